"""The shutdown contract, on the INSTALLED executables run as processes, with the client in this process:
SIGINT or SIGTERM, once or twice, to the node's process or its whole group, idle or with a goal generating
and another queued: every goal gets a terminal status and SHUTDOWN with its result, the process exits 0
within 2 s with no traceback. Ten signalled runs with goals, plus an idle one and the lifecycle executable."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

import pytest
from action_msgs.msg import GoalStatus

from cosmos_reason_ros.action import ReasonAboutTask
from helpers.tools import installed

Goal, Result, Feedback = ReasonAboutTask.Goal, ReasonAboutTask.Result, ReasonAboutTask.Feedback

TOPIC = "/shutdown_test/front/image_raw"
#: The contract: the process is gone this many seconds after the signal, with a goal generating.
EXIT_WITHIN = 2.0


@dataclass
class Run:
    """One signalled run: which executable, which signal(s), to whom, with goals or idle."""

    executable: str = "reasoner"
    signum: int = signal.SIGINT
    twice: bool = False
    to_group: bool = False
    goals: bool = True

    def __str__(self) -> str:
        return (f"{self.executable} {signal.Signals(self.signum).name}{' x2' if self.twice else ''} to "
                f"{'group' if self.to_group else 'process'}{'' if self.goals else ' idle'}")


RUNS = [Run(signum=signal.SIGINT if i % 2 == 0 else signal.SIGTERM, twice=i % 3 == 1, to_group=i % 4 >= 2)
        for i in range(10)]
RUNS += [Run(goals=False, to_group=True), Run(executable="reasoner_lifecycle", to_group=True),
         Run(executable="reasoner_lifecycle", signum=signal.SIGTERM, goals=False)]


@pytest.fixture(scope="module")
def client(rclpy_session):
    """A client node in this process: a 30 Hz camera for the reasoner and its action clients."""
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from helpers.ros_harness import image_msg, synthetic_frame

    node = rclpy_session.create_node("shutdown_test_client")
    publisher = node.create_publisher(Image, TOPIC, qos_profile_sensor_data)
    frames = [synthetic_frame(i, 320, 240) for i in range(4)]
    count = [0]

    def publish() -> None:
        publisher.publish(image_msg(frames[count[0] % 4], node.get_clock().now().to_msg(), "cam"))
        count[0] += 1

    node.create_timer(1 / 30, publish)
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    yield node
    executor.shutdown(timeout_sec=5)
    node.destroy_node()


def wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)


def start_generating(action_client, feedback: list):
    """Send goals until one generates (the model loads in the background: MODEL_NOT_READY meanwhile; a managed
    node rejects goals between its configure and its activate)."""
    end = time.monotonic() + 120
    while time.monotonic() < end:
        sent = action_client.send_goal_async(Goal(task="describe everything you see"),
                                             feedback_callback=lambda m: feedback.append(m.feedback))
        try:
            wait_for(sent.done, 10, "goal acceptance")
        except TimeoutError:  # the first response of a fresh server can be lost in discovery: send again
            continue
        handle = sent.result()
        if not handle.accepted:  # the managed node's action server is up at configure, accepting once activated
            time.sleep(0.2)
            continue
        result = handle.get_result_async()
        generating = lambda result=result: result.done() or any(f.tokens_generated > 0 for f in feedback)  # noqa: E731
        wait_for(generating, 60, "generation or a result")
        if not result.done():
            return handle, result
        assert result.result().result.error_code == Result.MODEL_NOT_READY, result.result().result.error_msg
        time.sleep(0.2)
    pytest.fail("no goal started generating within 120 s")


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS, ids=[f"run{i} {r}" for i, r in enumerate(RUNS)])
def test_signal_ends_every_goal_with_a_result_and_exits_cleanly(client, random_model, run):
    from rclpy.action import ActionClient

    name = f"reasoner_shutdown_{RUNS.index(run)}"
    command = [str(installed(run.executable))] + (["--autostart"] if run.executable == "reasoner_lifecycle" else [])
    command += ["--ros-args", "-r", f"__node:={name}", "-p", f"model:={random_model}",
                "-p", f"cameras.front.topic:={TOPIC}", "-p", "busy_policy:=queue",
                "-p", "generation.max_new_tokens:=4000", "-p", "generation.temperature:=0.0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    action_client = ActionClient(client, ReasonAboutTask, f"/{name}/reason")
    try:
        wait_for(action_client.server_is_ready, 90, "the action server")
        results = []
        if run.goals:
            feedback: list = []
            _, running = start_generating(action_client, feedback)
            queued_sent = action_client.send_goal_async(Goal(task="then count the cups"))
            wait_for(queued_sent.done, 30, "the queued goal's acceptance")
            assert queued_sent.result().accepted
            results = [running, queued_sent.result().get_result_async()]
            assert not running.done()
        else:
            wait_for(lambda: any("ready in" in line for line in output), 60, "the model to load")
        target = -process.pid if run.to_group else process.pid
        signalled = time.monotonic()
        os.kill(target, run.signum) if not run.to_group else os.killpg(process.pid, run.signum)
        if run.twice:
            time.sleep(0.05)
            try:
                os.killpg(process.pid, run.signum) if run.to_group else os.kill(process.pid, run.signum)
            except ProcessLookupError:
                pass
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"{run}: still running 15 s after the signal")
        exited_after = time.monotonic() - signalled
        reader.join(timeout=5)
        text = "".join(output)
        print(f"{run}: exit status {process.returncode} after {exited_after:.2f} s")

        for result in results:
            wait_for(result.done, 5, "the goal's result (sent before the server went away)")
            response = result.result()
            assert response.status == GoalStatus.STATUS_ABORTED, (run, response.status)
            assert response.result.error_code == Result.SHUTDOWN, (run, response.result.error_msg)
            assert len(response.result.plan.goal_id) == 32
        assert process.returncode == 0, text[-3000:]
        assert "Traceback" not in text and "Goal state not set" not in text and "Failed to publish" not in text, \
            text[-3000:]
        assert exited_after < EXIT_WITHIN, f"{run}: exited {exited_after:.2f} s after the signal"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        action_client.destroy()


def test_destroy_node_ends_goals_with_their_results(rclpy_session, random_model):
    """destroy_node (not a signal) keeps the same contract: the running and the queued goal end SHUTDOWN and
    their results reach the client before the action server goes away; a backend the node built is closed."""
    from cosmos_reason_ros.core.models.backend import BackendState
    from helpers.ros_harness import Camera, Harness

    h = Harness({"model": str(random_model), "generation.max_new_tokens": 4000, "generation.temperature": 0.0,
                 "busy_policy": "queue"}, [Camera("front", "/test_destroy/front/image_raw")],
                node_name="reasoner_destroy")
    try:
        h.wait_ready()
        feedback: list = []
        running = h.send("describe everything you see", feedback=feedback)
        h.wait_for(lambda: any(f.tokens_generated > 0 for f in feedback), 30, "generation")
        queued = h.send("then count the cups")
        futures = [running.get_result_async(), queued.get_result_async()]
        model = h.node.parts.model
        backend = model.backend
        h.node.destroy_node()
        for future in futures:
            h.wait_for(future.done, 5, "a result after destroy_node")
            assert future.result().status == GoalStatus.STATUS_ABORTED
            assert future.result().result.error_code == Result.SHUTDOWN
        assert backend.state is BackendState.UNLOADED and backend._model is None and not model.loading
    finally:
        h.executor.shutdown(timeout_sec=5)
        h.client.destroy()
        h.helper.destroy_node()
