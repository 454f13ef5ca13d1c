"""``ask``: send one ReasonAboutTask goal from a terminal and print the plan.

Progress (stages and the reasoning as the model writes it) goes to stderr as plain lines, so it reads the
same in a terminal, a pipe or a log; the plan goes to stdout, readable or as JSON (``--json``), so
``ask ... --json | jq`` works. Ctrl-C cancels the goal on the node before exiting.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from cosmos_reason_ros.core.names import MODE_NAMES, mode_name, stage_name, verdict_name

EXIT_OK, EXIT_GOAL_FAILED, EXIT_NO_SERVER, EXIT_REJECTED, EXIT_TRUNCATED = 0, 1, 2, 3, 4
EXIT_USAGE, EXIT_INTERRUPTED = 64, 130
CANCEL_WAIT = 3.0  # s to wait for the node to confirm a cancel after Ctrl-C

EPILOG = f"""\
exit codes:
  {EXIT_OK}    the node returned a complete plan (whatever its verdict)
  {EXIT_GOAL_FAILED}    the goal ended with an error code (its NAME and message are printed)
  {EXIT_TRUNCATED}    the answer was cut off (token budget): the plan is partial or missing (PARSE_FAILED with a
       truncated answer, or a plan marked COMPLETENESS_PARTIAL); raise --max-tokens
  {EXIT_NO_SERVER}    no action server at --server within --wait-server seconds
  {EXIT_REJECTED}    the node rejected the goal (busy_policy reject, or its queue is full)
  {EXIT_USAGE}   bad command line
  {EXIT_INTERRUPTED}  Ctrl-C: the goal was canceled on the node

examples:
  ask "bring me the red cup"
  ask "can the arm reach the red cup?" --mode feasibility --cameras front,wrist --json
  ask "what is on the table?" --mode question --history 2 --frames 4 --quiet
  ask "put the red cup on the tray" --skills skills.yaml --history-file done.yaml
  ask "put the red cup on the tray" --mode verify --criterion "the cup rests on the tray"

  --skills FILE: YAML shaped like the parameters' skills section (names: [...], then per name description,
  arguments, preconditions, synonyms; README "Plans in the robot's skills"). --history-file FILE: a YAML list
  of executed steps, each {{skill, arguments, description, outcome: succeeded|failed, reason}}.
"""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors; 2 means "no server" here, so usage errors exit 64 (EX_USAGE)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _non_negative(convert: Callable[[str], Any], limit: float = float("inf")) -> Callable[[str], Any]:
    """An argparse type: a number >= 0 and <= limit (unsigned goal fields overflow otherwise); the node
    checks the rest against its parameters."""

    def parse(text: str) -> Any:
        value = convert(text)
        if value < 0 or value > limit:
            raise argparse.ArgumentTypeError(f"{text} must be >= 0" + (f" and <= {limit:g}" if limit < 1e300 else ""))
        return value

    parse.__name__ = convert.__name__  # argparse names the type in its messages
    return parse


def _load_yaml(path: str) -> Any:
    import yaml

    try:
        with open(path, encoding="utf-8") as stream:
            return yaml.safe_load(stream)
    except (OSError, yaml.YAMLError) as e:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {e}") from e


def _skills_file(path: str) -> list:
    """--skills: the file's skills as Skill messages (checked here, so a typo is a usage error)."""
    from cosmos_reason_ros.core.errors import InvalidRequestError
    from cosmos_reason_ros.core.modes.skills import library_from_mapping
    from cosmos_reason_ros.ros.goals.skills import skill_msgs

    try:
        return skill_msgs(library_from_mapping(_load_yaml(path) or {}))
    except InvalidRequestError as e:
        raise argparse.ArgumentTypeError(f"{path}: {e.message}") from e


def _history_file(path: str) -> list:
    """--history-file: the file's executed steps as ExecutedStep messages."""
    from cosmos_reason_ros.core.errors import InvalidRequestError
    from cosmos_reason_ros.ros.goals.skills import executed_step_msgs

    try:
        return executed_step_msgs(_load_yaml(path) or [])
    except InvalidRequestError as e:
        raise argparse.ArgumentTypeError(f"{path}: {e.message}") from e


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ask", description="Ask the Cosmos reasoner about a task and print its plan.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="the task or question, in natural language")
    parser.add_argument("--mode", choices=tuple(MODE_NAMES), default="decompose",
                        help="decompose (steps + verdict, default), feasibility, next (action), verify (completion), "
                             "question, locate (boxes, points and 3D points of the objects the task names)")
    parser.add_argument("--ground-targets", action="store_true",
                        help="decompose / next: also locate the steps' target objects (goal ground_targets)")
    parser.add_argument("--cameras", default="", help="comma-separated camera names (default: all the node has)")
    parser.add_argument("--history", type=_non_negative(float), default=0.0, metavar="S",
                        help="seconds of recent video to consider (default: the node's)")
    parser.add_argument("--frames", type=_non_negative(int, 2**16 - 1), default=0, metavar="N",
                        help="frames per camera (default: the node's)")
    parser.add_argument("--max-tokens", type=_non_negative(int, 2**32 - 1), default=0, metavar="N",
                        help="cap on generated tokens, reasoning included (default: the node's)")
    parser.add_argument("--timeout", type=_non_negative(float), default=0.0, metavar="S",
                        help="deadline of the goal on the node (default: the node's goal_timeout)")
    parser.add_argument("--skills", type=_skills_file, default=[], metavar="FILE",
                        help="decompose / next: the robot's skills (YAML), added to the node's for this goal")
    parser.add_argument("--history-file", type=_history_file, default=[], metavar="FILE",
                        help="decompose / next: steps already executed, with their outcome (YAML list)")
    parser.add_argument("--criterion", default="", metavar="TEXT",
                        help="verify: check this one step's success criterion instead of the whole task")
    parser.add_argument("--no-reasoning", action="store_true", help="leave the reasoning out of the result")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON on stdout")
    parser.add_argument("--server", default="/cosmos_reasoner/reason", help="action name (default: %(default)s)")
    parser.add_argument("--wait-server", type=float, default=5.0, metavar="S",
                        help="seconds to wait for the action server (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr (errors still are)")
    return parser


# ------------------------------------------------------------------------------------------ output
def truncation_note(result: Any) -> str | None:
    """Why the answer is incomplete, when it was cut off by the token budget (or is a salvaged plan)."""
    from cosmos_reason_ros.action import ReasonAboutTask
    from cosmos_reason_ros.core.datatypes import Completeness

    plan, stats, codes = result.plan, result.plan.stats, ReasonAboutTask.Result
    if result.error_code not in (codes.NONE, codes.PARSE_FAILED):
        return None  # TIMEOUT, CANCELED, ...: the error code says it (exit 1 or 130)
    cut = result.error_code == codes.PARSE_FAILED and stats.stop_reason == "max_tokens"
    if not cut and plan.completeness != Completeness.PARTIAL:
        return None
    state = "a partial plan (only what the model finished)" if plan.completeness == Completeness.PARTIAL else "no plan"
    return (f"the answer was truncated after {stats.generated_tokens} tokens (stop reason {stats.stop_reason or '?'}): "
            f"{state}; raise --max-tokens (or the node's generation.max_new_tokens) so the model can finish")


def stamp_dict(stamp: Any) -> dict[str, Any]:
    from cosmos_reason_ros.ros.conversions import seconds  # ROS messages: imported once a plan is printed

    return {"sec": stamp.sec, "nanosec": stamp.nanosec, "seconds": seconds(stamp)}


def message_to_dict(msg: Any) -> Any:
    """A ROS message as plain JSON-able data: every field; stamps with float seconds; float32 unpadded."""
    if type(msg).__name__ == "Time" and type(msg).__module__.startswith("builtin_interfaces"):
        return stamp_dict(msg)
    if not hasattr(msg, "get_fields_and_field_types"):
        return [message_to_dict(item) for item in msg] if isinstance(msg, (list, tuple)) else msg
    data = {}
    for name, field_type in msg.get_fields_and_field_types().items():
        value = getattr(msg, name)
        if field_type == "float":  # float32: print 0.9, not 0.8999999761581421
            value = float(f"{value:.7g}")
        data[name] = message_to_dict(list(value) if field_type.startswith("sequence") else value)
    return data


def result_to_dict(status_name: str, result: Any) -> dict[str, Any]:
    from cosmos_reason_ros.core.datatypes import Completeness, Completion
    from cosmos_reason_ros.ros.goals.error_codes import code_name

    plan = message_to_dict(result.plan)
    plan["mode_name"] = mode_name(result.plan.mode)
    plan["completion_name"] = Completion(result.plan.completion).name
    plan["completeness_name"] = Completeness(result.plan.completeness).name
    plan["feasibility"]["verdict_name"] = verdict_name(result.plan.feasibility.verdict)
    return {"status": status_name, "error_code": result.error_code, "error_name": code_name(result.error_code),
            "error_msg": result.error_msg, "plan": plan}


def located_lines(obj: Any) -> list[str]:
    """One located object: camera pixels (box as x_min,y_min - x_max,y_max), point, 3D point or why not."""
    where = []
    if obj.has_box:
        half_x, half_y = obj.bbox_size_x / 2, obj.bbox_size_y / 2
        where.append(f"box ({obj.bbox_center_x - half_x:.1f}, {obj.bbox_center_y - half_y:.1f})"
                     f"-({obj.bbox_center_x + half_x:.1f}, {obj.bbox_center_y + half_y:.1f}) px")
    if obj.has_point:
        where.append(f"point ({obj.point_x:.1f}, {obj.point_y:.1f}) px")
    lines = [f"{obj.label} [{obj.camera}, frame {obj.frame_index}]: {', '.join(where)}"]
    if obj.has_position:
        p = obj.position.point
        lines.append(f"  3D ({p.x:.3f}, {p.y:.3f}, {p.z:.3f}) m in {obj.position.header.frame_id}")
    elif obj.position_status:
        lines.append(f"  no 3D point: {obj.position_status}")
    return lines


def format_plan(plan: Any) -> str:
    """The plan as a person reads it: verdict, numbered steps with their conditions, answer, cost."""
    from cosmos_reason_ros.core.datatypes import ArgumentType, Completeness, Completion, Dispatch, Verdict

    lines = [f"task: {plan.task}", f"mode: {mode_name(plan.mode)}"]
    if plan.completeness == Completeness.PARTIAL:
        lines.append("completeness: PARTIAL (the answer was cut off; only the elements the model finished)")
    judgment = plan.feasibility
    if judgment.verdict != Verdict.UNKNOWN:
        confidence = f" (confidence {judgment.confidence:.2f})" if judgment.confidence >= 0 else ""
        lines.append(f"verdict: {verdict_name(judgment.verdict)}{confidence}"
                     + (f": {judgment.explanation}" if judgment.explanation else ""))
        lines += [f"  blocked by: {factor}" for factor in judgment.blocking_factors]
    if plan.completion != Completion.UNKNOWN:
        lines.append(f"completed: {'yes' if plan.completion == Completion.DONE else 'no'}")
    if plan.subtasks:
        lines.append("steps:")
    for step in plan.subtasks:
        head = step.action or "-"
        if step.skill or step.skill_written:
            arguments = ", ".join(f"{a.name}={a.number:g}{a.unit and ' ' + a.unit}"
                                  if a.type == ArgumentType.NUMBER else f"{a.name}={a.text}" for a in step.arguments)
            head = f"{step.skill or step.skill_written + ' (not a declared skill)'}({arguments})"
        lines.append(f"  {step.index + 1}. {head}: {step.description}")
        if step.skill_problem:
            lines.append(f"     NOT DISPATCHABLE: {step.skill_problem}")
        details = (("objects", ", ".join(step.target_objects)), ("requires", "; ".join(step.preconditions)),
                   ("done when", step.success_criterion), ("note", step.feasibility_note))
        lines += [f"     {label}: {text}" for label, text in details if text]
    if plan.dispatch:
        ready = plan.dispatch == Dispatch.READY
        lines.append("dispatch: " + ("READY" if ready else f"BLOCKED: {plan.dispatch_problem}"))
    if plan.objects:
        lines.append("objects:")
    lines += [f"  {line}" for obj in plan.objects for line in located_lines(obj)]
    if plan.answer:
        lines.append(f"answer: {plan.answer}")
    lines += [f"warning: {warning}" for warning in plan.parse_warnings]
    frames = ", ".join(f"{c.camera} x{len(c.stamps)}" for c in plan.cameras)
    stats = plan.stats
    lines.append(f"frames: {frames or 'none'}")
    lines.append(f"model: {plan.model_id}, {stats.generated_tokens} tokens, {stats.total_time:.2f} s "
                 f"({stats.tokens_per_second:.1f} tok/s)")
    return "\n".join(lines)


class Progress:
    """Stage changes as ``[ask]`` lines and the streamed text as it comes, on stderr (or nowhere)."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.stage: int | None = None
        self._line_open = False  # streamed text written without a final newline
        # Feedback can overtake the goal response: hold it until acceptance is printed, so the lines keep
        # the order in which things happened on the node.
        self._held: list[Any] | None = []

    def note(self, text: str) -> None:
        if self.stream is None:
            return
        if self._line_open:
            self.stream.write("\n")
            self._line_open = False
        self.stream.write(f"[ask] {text}\n")
        self.stream.flush()

    def accepted(self, server: str) -> None:
        self.note(f"goal accepted by {server}")
        held, self._held = self._held or [], None
        for feedback in held:
            self.feedback(feedback)

    def feedback(self, feedback: Any) -> None:
        if self._held is not None:
            self._held.append(feedback)
            return
        if feedback.stage != self.stage:
            self.stage = feedback.stage
            self.note(f"{stage_name(feedback.stage)} ({feedback.elapsed:.1f} s, {feedback.tokens_generated} tokens)")
        if feedback.new_text and self.stream is not None:
            self.stream.write(feedback.new_text)
            self.stream.flush()
            self._line_open = not feedback.new_text.endswith("\n")


# ------------------------------------------------------------------------------------------- ROS
class _Interrupt:
    """First Ctrl-C (or SIGTERM) sets a flag the loops check; a second one exits at once."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: Any) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()


def _spin_until(executor: Any, done: Callable[[], bool], timeout: float, interrupt: _Interrupt | None) -> bool:
    """Spin until ``done()``; False on timeout or (when given) interrupt."""
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= end or (interrupt is not None and interrupt.event.is_set()):
            return False
        executor.spin_once(timeout_sec=0.05)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    import rclpy
    from rclpy.signals import SignalHandlerOptions
    from rclpy.utilities import remove_ros_args

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(remove_ros_args(argv))
    interrupt = _Interrupt()
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(args=["ask", *argv], signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node(f"cosmos_ask_{os.getpid()}")
    try:
        return _ask(node, args, interrupt)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ask(node: Any, args: argparse.Namespace, interrupt: _Interrupt) -> int:
    from action_msgs.msg import GoalStatus
    from rclpy.action import ActionClient
    from rclpy.executors import SingleThreadedExecutor

    from cosmos_reason_ros.action import ReasonAboutTask
    from cosmos_reason_ros.ros.goals.error_codes import code_name

    progress = Progress(None if args.quiet else sys.stderr)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    client = ActionClient(node, ReasonAboutTask, args.server)
    if not _spin_until(executor, client.server_is_ready, args.wait_server, interrupt):
        if interrupt.event.is_set():
            print("[ask] interrupted while waiting for the action server", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"[ask] no action server at {args.server} after {args.wait_server:.1f} s: is the reasoner running, "
              "with the same ROS_DOMAIN_ID? (`--server` names another node's action)", file=sys.stderr)
        return EXIT_NO_SERVER
    goal = ReasonAboutTask.Goal(
        task=args.task, mode=MODE_NAMES[args.mode], cameras=[c.strip() for c in args.cameras.split(",") if c.strip()],
        history_seconds=args.history, max_frames=args.frames, max_new_tokens=args.max_tokens, timeout=args.timeout,
        return_reasoning=not args.no_reasoning, ground_targets=args.ground_targets, skills=args.skills,
        history=args.history_file, success_criterion=args.criterion)
    sent = client.send_goal_async(goal, feedback_callback=lambda message: progress.feedback(message.feedback))
    # The node answers acceptance at once; a Ctrl-C meanwhile is handled once the goal is known.
    if not _spin_until(executor, sent.done, args.wait_server, None):
        print(f"[ask] {args.server} did not answer the goal request within {args.wait_server:.1f} s", file=sys.stderr)
        return EXIT_NO_SERVER
    handle = sent.result()
    if not handle.accepted:
        print("[ask] the node rejected the goal (busy_policy reject, or its queue is full)", file=sys.stderr)
        return EXIT_REJECTED
    progress.accepted(args.server)
    result_future = handle.get_result_async()
    if not _spin_until(executor, result_future.done, float("inf"), interrupt):
        progress.note("interrupted: canceling the goal")
        handle.cancel_goal_async()
        if not _spin_until(executor, result_future.done, CANCEL_WAIT, None):
            print(f"[ask] interrupted; the node did not confirm the cancel within {CANCEL_WAIT:.0f} s",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
    response = result_future.result()
    result = response.result
    status_name = {GoalStatus.STATUS_SUCCEEDED: "SUCCEEDED", GoalStatus.STATUS_CANCELED: "CANCELED",
                   GoalStatus.STATUS_ABORTED: "ABORTED"}.get(response.status, str(response.status))
    succeeded = result.error_code == ReasonAboutTask.Result.NONE
    truncated = truncation_note(result)
    if succeeded:
        progress.note(f"done in {result.plan.stats.total_time:.2f} s")
    else:
        print(f"[ask] goal {status_name.lower()}: {code_name(result.error_code)}: {result.error_msg}", file=sys.stderr)
    if truncated:
        print(f"[ask] {truncated}", file=sys.stderr)
    if args.json:
        print(json.dumps(result_to_dict(status_name, result), indent=2, ensure_ascii=False))
    elif succeeded or (truncated and result.plan.completeness):
        print(format_plan(result.plan))
    if interrupt.event.is_set():  # even when the goal finished before the cancel reached it
        return EXIT_INTERRUPTED
    if truncated:
        return EXIT_TRUNCATED
    return EXIT_OK if succeeded else EXIT_GOAL_FAILED
