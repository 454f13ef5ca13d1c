"""Model lifecycle: the node is up before the model; goals meanwhile get MODEL_NOT_READY or wait; a model
that fails to load is reported and the node stays up; the installed executable answers a goal."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from action_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.core.models.transformers_backend import TransformersConfig
from helpers.lifecycle import ManagedRig
from helpers.tools import installed

Goal, Result, Feedback = ReasonAboutTask.Goal, ReasonAboutTask.Result, ReasonAboutTask.Feedback


def test_goals_before_the_model_is_ready(make_harness, reason1_model):
    from helpers.fault_injection import HungLoadBackend
    from helpers.ros_harness import Camera

    backend = HungLoadBackend(TransformersConfig(model=str(reason1_model)))
    h = make_harness({"model": str(reason1_model)}, [Camera("front", "/test_life/front/image_raw")], ready=False,
                     backend=backend, node_name="reasoner_life")
    try:
        h.wait_for(lambda: h.client.server_is_ready(), 10, "the action server, up before the model")
        h.wait_for(lambda: len(h.node.parts.ingest.cameras["front"].buffer) > 2, 10, "frames")
        started = time.monotonic()
        status, result, _ = h.run()
        assert result.error_code == Result.MODEL_NOT_READY and "loading" in result.error_msg
        assert time.monotonic() - started < 1.0  # model_wait_timeout 0: answered at once
        # With a wait allowed, the goal waits (feedback says so) and succeeds once loading finishes.
        client = h.helper.create_client(SetParameters, "/reasoner_life/set_parameters")
        assert client.wait_for_service(timeout_sec=5)
        future = client.call_async(SetParameters.Request(
            parameters=[Parameter("model_wait_timeout", value=30.0).to_parameter_msg()]))
        h.wait_for(future.done, 5, "set model_wait_timeout")
        feedback: list = []
        handle = h.send(feedback=feedback)
        h.wait_for(lambda: any(f.stage == Feedback.STAGE_WAITING_FOR_MODEL for f in feedback), 5, "waiting stage")
        backend.release.set()
        status, result = h.result(handle, 60)
        assert result.error_code == Result.NONE, result.error_msg
    finally:
        backend.release.set()  # before make_harness closes the node: a hung load would hold up its teardown


def test_a_model_that_fails_to_load_is_reported_and_the_node_stays_up(make_harness, tmp_path):
    from helpers.ros_harness import Camera

    missing = tmp_path / "no-such-model"
    h = make_harness({"model": str(missing), "diagnostics_period": 0.2},
                     [Camera("front", "/test_fail/front/image_raw")], ready=False, node_name="reasoner_fail")
    h.wait_for(lambda: h.node.parts.model.backend.state.value == "failed", 30, "the load to fail")
    assert "make_tiny_model" in h.node.parts.model.backend.load_error  # the error says how to provide weights
    h.wait_for(lambda: h.client.server_is_ready(), 10, "action server")
    status, result, _ = h.run()
    assert result.error_code == Result.MODEL_NOT_READY and "failed" in result.error_msg
    arrays: list = []
    h.helper.create_subscription(DiagnosticArray, "/diagnostics", arrays.append, 10)
    h.wait_for(lambda: any(s.name == "/reasoner_fail: model" and s.level == DiagnosticStatus.ERROR
                           for a in arrays for s in a.status), 5, "an ERROR model diagnostic")


def _installed_share() -> Path:
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("cosmos_reason_ros"))


@pytest.mark.slow  # the installed executable as a process
def test_installed_node_with_default_config_answers_a_goal(rclpy_session, reason1_model):
    """`ros2 run cosmos_reason_ros reasoner --ros-args --params-file <installed config> -p model:=<dir>`."""
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from helpers.ros_harness import Harness, image_msg, synthetic_frame

    config = _installed_share() / "config" / "reasoner.yaml"
    process = subprocess.Popen(
        [str(installed("reasoner")), "--ros-args", "--params-file", str(config), "-p", f"model:={reason1_model}",
         "-r", "__node:=reasoner_installed", "-r", "front/image_raw:=/installed/front/image_raw"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    node = rclpy.create_node("installed_client")
    publisher = node.create_publisher(Image, "/installed/front/image_raw", qos_profile_sensor_data)
    count = [0]

    def publish() -> None:
        publisher.publish(image_msg(synthetic_frame(count[0], 320, 240), node.get_clock().now().to_msg(), "cam"))
        count[0] += 1

    node.create_timer(1 / 30, publish)
    client = ActionClient(node, ReasonAboutTask, "/reasoner_installed/reason")
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    import threading

    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        Harness.wait_for(lambda: client.server_is_ready(), 60, "the installed node's action server")
        result = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # the model loads in the background: retry MODEL_NOT_READY
            future = client.send_goal_async(Goal(task="bring me the red cup"))
            Harness.wait_for(future.done, 10, "acceptance")
            result_future = future.result().get_result_async()
            Harness.wait_for(result_future.done, 60, "result")
            result = result_future.result()
            if result.result.error_code != Result.MODEL_NOT_READY:
                break
            time.sleep(0.5)
        assert result is not None and result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error_msg
        assert [s.action for s in result.result.plan.subtasks] == ["pick", "place"]
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        executor.shutdown(timeout_sec=5)
        client.destroy()
        node.destroy_node()
    assert "ready in" in output
    assert process.returncode == 0, output[-2000:]


def test_camera_companion_node_follows_the_node(rclpy_session, make_harness, reason1_model):
    """Cameras are taken on `<node>_cameras` with its own thread: frames keep arriving while the node itself is
    off its executor, and destroying the node ends that thread and removes the companion node."""
    import threading

    from helpers.ros_harness import Camera, Harness

    h = make_harness({"model": str(reason1_model)}, [Camera("front", "/test_companion/front/image_raw")],
                     node_name="reasoner_companion")
    h.wait_for(lambda: ("reasoner_companion_cameras", "/") in h.helper.get_node_names_and_namespaces(), 10,
               "the companion node in the graph")
    threads = [t for t in threading.enumerate() if t.name == "reasoner_companion-camera-ingest"]
    assert len(threads) == 1 and threads[0].is_alive()

    # Take the node off its executor: nothing of the node itself is served now, yet frames keep coming.
    buffer = h.node.parts.ingest.cameras["front"].buffer
    h.executor.remove_node(h.node)
    try:
        before = buffer.snapshot()[-1].stamp
        h.wait_for(lambda: buffer.snapshot()[-1].stamp > before + 0.5, 5, "frames with the node off its executor")
    finally:
        h.executor.add_node(h.node)
    h.close()  # what closing does is checked below (make_harness's own close at teardown is then a no-op)
    threads[0].join(timeout=5.0)
    assert not threads[0].is_alive()
    observer = rclpy_session.create_node("test_companion_observer")
    try:
        Harness.wait_for(lambda: ("reasoner_companion_cameras", "/") not in observer.get_node_names_and_namespaces(),
                         10, "the companion node to leave the graph")
    finally:
        observer.destroy_node()


# ------------------------------------------------------------------------------ the managed node
def test_managed_node_every_transition_over_the_lifecycle_services(rclpy_session, reason1_model):
    from lifecycle_msgs.msg import Transition

    from cosmos_reason_ros.core.models.backend import BackendState
    from helpers.ros_harness import Harness

    rig = ManagedRig(rclpy_session, reason1_model, "reasoner_managed")
    try:
        # unconfigured: parameters only; no backend, no cameras, no action server
        assert rig.state() == "unconfigured"
        parts = rig.node.parts
        assert parts.model.backend is None and parts.ingest is None and not rig.action.server_is_ready()
        assert rig.node.get_parameter("model").value == str(reason1_model)

        # configure: backend built (not loaded), cameras subscribed, action server up but not accepting
        assert rig.transition(Transition.TRANSITION_CONFIGURE)
        assert rig.state() == "inactive"
        assert rig.node.parts.model.backend is not None and rig.node.parts.model.backend.state is BackendState.UNLOADED
        Harness.wait_for(lambda: rig.in_graph("reasoner_managed_cameras"), 10, "the camera companion")
        Harness.wait_for(lambda: len(rig.node.parts.ingest.cameras["front"].buffer) > 2, 10, "frames while inactive")
        Harness.wait_for(rig.action.server_is_ready, 10, "the action server")
        assert not rig.send().accepted  # inactive: goals are refused

        # activate: the model loads, goals are accepted and answered
        assert rig.transition(Transition.TRANSITION_ACTIVATE)
        assert rig.state() == "active"
        Harness.wait_for(lambda: rig.node.parts.model.backend.ready, 60, "the model to load")
        handle = rig.send()
        assert handle.accepted
        result = handle.get_result_async()
        Harness.wait_for(result.done, 60, "the result")
        assert result.result().status == GoalStatus.STATUS_SUCCEEDED, result.result().result.error_msg

        # deactivate with a goal in flight (waiting for a frame): it ends SHUTDOWN with its result; the model
        # is unloaded
        rig.camera_on = False
        buffer = rig.node.parts.ingest.cameras["front"].buffer
        Harness.wait_for(lambda: rig.node.get_clock().now().nanoseconds * 1e-9 - buffer.latest().stamp > 2.5, 10,
                         "the camera to go stale")
        rig.node.set_parameters([Parameter("frames.wait_timeout", value=30.0)])
        waiting = rig.send()
        assert waiting.accepted
        waiting_result = waiting.get_result_async()
        Harness.wait_for(lambda: rig.node.parts.slots.running, 10, "the goal to start waiting")
        backend = rig.node.parts.model.backend
        assert rig.transition(Transition.TRANSITION_DEACTIVATE)
        assert rig.state() == "inactive"
        Harness.wait_for(waiting_result.done, 5, "the in-flight goal's result")
        assert waiting_result.result().status == GoalStatus.STATUS_ABORTED
        assert waiting_result.result().result.error_code == Result.SHUTDOWN
        assert backend.state is BackendState.UNLOADED and backend._model is None
        assert not rig.node.parts.model.loading
        assert not rig.send().accepted
        rig.camera_on = True

        # cleanup: everything configure made is gone
        assert rig.transition(Transition.TRANSITION_CLEANUP)
        assert rig.state() == "unconfigured"
        assert rig.node.parts.model.backend is None and rig.node.parts.ingest is None
        Harness.wait_for(lambda: not rig.in_graph("reasoner_managed_cameras"), 10, "the companion to leave")

        # and round again: configure, activate (the model loads again), then shutdown from active
        assert rig.transition(Transition.TRANSITION_CONFIGURE)
        assert rig.transition(Transition.TRANSITION_ACTIVATE)
        Harness.wait_for(lambda: rig.node.parts.model.backend.ready, 60, "the model to load again")
        backend = rig.node.parts.model.backend
        assert rig.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert rig.state() == "finalized"
        assert backend.state is BackendState.UNLOADED and rig.node.parts.model.backend is None
    finally:
        rig.close()


def test_a_configure_that_fails_half_way_leaves_nothing_behind(rclpy_session, reason1_model):
    """A part that fails in configure (a fault injected into the watches part, after the cameras, the outputs
    and the action server were made): FAILURE, the node is unconfigured with nothing left over, and the next
    configure works."""
    from lifecycle_msgs.msg import Transition

    from helpers.ros_harness import Harness

    rig = ManagedRig(rclpy_session, reason1_model, "reasoner_half_configured")
    try:
        parts = rig.node.parts
        configure_watches = parts.watches.configure

        def failing() -> None:
            raise RuntimeError("fault injected into the watches part")

        parts.watches.configure = failing
        assert not rig.transition(Transition.TRANSITION_CONFIGURE)
        assert rig.state() == "unconfigured"
        assert parts.ingest is None and not parts.configured and parts.model.backend is None
        Harness.wait_for(lambda: rig.node.count_publishers(f"/{rig.name}/plan") == 0, 10, "~/plan to go")
        Harness.wait_for(lambda: not rig.in_graph(f"{rig.name}_cameras"), 10, "the camera companion to leave")
        Harness.wait_for(lambda: not rig.action.server_is_ready(), 10, "the action server to go")

        parts.watches.configure = configure_watches
        assert rig.transition(Transition.TRANSITION_CONFIGURE)
        assert rig.state() == "inactive"
        Harness.wait_for(rig.action.server_is_ready, 10, "the action server")
        assert rig.node.count_publishers(f"/{rig.name}/plan") == 1
    finally:
        rig.close()


@pytest.mark.gpu  # checks that deactivate gives the model's GPU memory back
def test_deactivate_releases_gpu_memory(rclpy_session, reason1_model):
    import torch
    from lifecycle_msgs.msg import Transition

    from helpers.ros_harness import Harness

    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    rig = ManagedRig(rclpy_session, reason1_model, "reasoner_managed_gpu", device="cuda")
    try:
        assert rig.transition(Transition.TRANSITION_CONFIGURE) and rig.transition(Transition.TRANSITION_ACTIVATE)
        Harness.wait_for(lambda: rig.node.parts.model.backend.ready, 120, "the model to load on the GPU")
        loaded = torch.cuda.memory_allocated()
        assert loaded > before
        assert rig.transition(Transition.TRANSITION_DEACTIVATE)
        released = torch.cuda.memory_allocated()
        print(f"GPU memory allocated: {before / 2**20:.1f} MB before, {loaded / 2**20:.1f} MB loaded, "
              f"{released / 2**20:.1f} MB after deactivate; reserved {torch.cuda.memory_reserved() / 2**20:.1f} MB")
        assert released <= before + 1 * 2**20
    finally:
        rig.close()
