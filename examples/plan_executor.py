#!/usr/bin/env python3
"""Plan a task in the robot's skills and execute it with ``PlanExecutor``, with simulated skills.

    . scripts/env.sh   # then, with a reasoner and a camera running (README quickstart):
    python3 examples/plan_executor.py "put the red cup on the tray" --skills examples/skills.yaml

The skills come from the YAML file and travel with every planning goal (goal ``skills``), so any reasoner
works, with or without ``skills.*`` parameters. Each skill is a simulated behaviour: RUNNING for a few ticks,
then SUCCESS; ``--fail pick`` makes the first run of pick fail ("the cup slipped from the gripper"), so the
executor records the failure, re-plans with the history and runs the new plan. Each step is verified against
the camera before the next (MODE_VERIFY_COMPLETION with the step's success criterion). Exit status 0 when the
executor succeeded, 1 otherwise; the outcome, the history and the re-plans are printed.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time

import py_trees
import rclpy
from py_trees.common import Access, Status
from rclpy.executors import SingleThreadedExecutor

from cosmos_reason_ros.bt import PlanExecutor, arguments_of
from cosmos_reason_ros.core.modes.skills import library_from_mapping
from cosmos_reason_ros.msg import ExecutedStep
from cosmos_reason_ros.ros.goals.skills import skill_msgs

STEP_KEY = "/cosmos/executor/step"


class SimulatedSkill(py_trees.behaviour.Behaviour):
    """A stand-in for a robot skill: reads the step, runs for ``ticks`` ticks, succeeds (or fails its first
    ``failures`` runs with ``reason``, as a real skill reports why in its feedback message)."""

    def __init__(self, name: str, ticks: int = 3, failures: int = 0,
                 reason: str = "the cup slipped from the gripper") -> None:
        super().__init__(name)
        self.ticks, self.failures, self.reason = ticks, failures, reason
        self.runs, self.calls = 0, []
        self.blackboard = self.attach_blackboard_client(name=name)
        self.blackboard.register_key(STEP_KEY, access=Access.READ)

    def initialise(self) -> None:
        self.runs += 1
        self.remaining = self.ticks
        step = self.blackboard.get(STEP_KEY)
        self.calls.append(arguments_of(step))
        print(f"[skill] {self.name}({', '.join(f'{k}={v}' for k, v in arguments_of(step).items())}): "
              f"{step.description}", flush=True)

    def update(self) -> Status:
        self.remaining -= 1
        if self.remaining > 0:
            return Status.RUNNING
        if self.runs <= self.failures:
            self.feedback_message = self.reason
            return Status.FAILURE
        return Status.SUCCESS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task")
    parser.add_argument("--skills", required=True, help="the skills YAML (examples/skills.yaml)")
    parser.add_argument("--fail", default="pick", help="the skill whose first run fails ('' = none)")
    parser.add_argument("--action", default="/cosmos_reasoner/reason")
    parser.add_argument("--max-replans", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0, help="s before giving up")
    args = parser.parse_args(argv)
    import yaml

    with open(args.skills, encoding="utf-8") as stream:
        library = library_from_mapping(yaml.safe_load(stream))
    skills = {name: SimulatedSkill(name, failures=1 if name == args.fail else 0) for name in library.names}
    executor_behaviour = PlanExecutor("execute", args.task, skills, goal_skills=skill_msgs(library),
                                      action_name=args.action, max_replans=args.max_replans, server_timeout=30.0)
    rclpy.init()
    node = rclpy.create_node("plan_executor_example")
    spinner = SingleThreadedExecutor()
    spinner.add_node(node)
    thread = threading.Thread(target=spinner.spin, daemon=True)
    thread.start()
    tree = py_trees.trees.BehaviourTree(executor_behaviour)
    try:
        tree.setup(node=node, timeout=15.0)
        last, end = "", time.monotonic() + args.timeout
        while executor_behaviour.status in (Status.INVALID, Status.RUNNING) and time.monotonic() < end:
            tree.tick()
            if executor_behaviour.feedback_message != last:
                last = executor_behaviour.feedback_message
                print(f"[executor] {last}", flush=True)
            time.sleep(0.05)
        board = executor_behaviour.blackboard
        keys = executor_behaviour.keys
        print(f"[executor] outcome: {board.get(keys['outcome'])} ({board.get(keys['outcome_detail'])})")
        print(f"[executor] re-plans: {board.get(keys['replans'])}")
        for number, entry in enumerate(board.get(keys["history"]), 1):
            outcome = "SUCCEEDED" if entry.outcome == ExecutedStep.OUTCOME_SUCCEEDED else "FAILED"
            print(f"[history] {number}. {entry.step.skill} {arguments_of(entry.step)}: {outcome}"
                  + (f" ({entry.reason})" if entry.reason else ""))
        return 0 if executor_behaviour.status == Status.SUCCESS else 1
    finally:
        tree.shutdown()
        spinner.shutdown(timeout_sec=5.0)  # the spin thread ends before the node and the context go
        thread.join(timeout=5.0)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
