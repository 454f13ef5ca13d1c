"""How the node shows itself to the graph and to ROS tools: diagnostics named by its fully qualified name
with resolved camera topics, a camera companion that answers parameter services (so `ros2 param list`
never waits on it), and the core's Python logging on the node's logger (/rosout) with levels and tracebacks."""
from __future__ import annotations

import logging
import threading

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rcl_interfaces.srv import ListParameters
from rclpy.parameter import Parameter

from cosmos_reason_ros.action import ReasonAboutTask

Result = ReasonAboutTask.Result


@pytest.fixture(scope="module")
def namespaced(rclpy_session, reason1_model):
    """A reasoner in namespace /robot1 with a relative camera topic, a camera and a client node."""
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from cosmos_reason_ros.ros.node.reasoner_node import ReasonerNode
    from helpers.ros_harness import image_msg, synthetic_frame

    node = ReasonerNode(node_name="reasoner_graph", namespace="robot1", parameter_overrides=[
        Parameter("model", value=str(reason1_model)), Parameter("cameras.names", value=["front"]),
        Parameter("diagnostics_period", value=0.2)])  # cameras.front.topic: the default, front/image_raw
    helper = rclpy_session.create_node("graph_client")
    publisher = helper.create_publisher(Image, "/robot1/front/image_raw", qos_profile_sensor_data)
    frame = synthetic_frame(0, 320, 240)
    helper.create_timer(1 / 30, lambda: publisher.publish(image_msg(frame, helper.get_clock().now().to_msg(), "c")))
    executor = MultiThreadedExecutor(num_threads=6)
    executor.add_node(node)
    executor.add_node(helper)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield node, helper
    node.shutdown()
    executor.shutdown(timeout_sec=5)
    node.destroy_node()
    helper.destroy_node()
    thread.join(timeout=5)


def test_diagnostics_carry_the_fully_qualified_name_and_resolved_topics(namespaced):
    from helpers.ros_harness import Harness

    node, helper = namespaced
    arrays: list = []
    subscription = helper.create_subscription(DiagnosticArray, "/diagnostics", arrays.append, 10)
    ours = lambda: [s for a in arrays for s in a.status if s.name.startswith("/robot1/reasoner_graph: ")]  # noqa: E731
    Harness.wait_for(lambda: {s.name for s in ours()} >= {"/robot1/reasoner_graph: model",
                                                          "/robot1/reasoner_graph: camera front",
                                                          "/robot1/reasoner_graph: goals"}, 10, "our diagnostics")
    camera = next(s for s in reversed(ours()) if s.name.endswith("camera front"))
    values = {kv.key: kv.value for kv in camera.values}
    assert values["topic"] == "/robot1/front/image_raw" == camera.hardware_id
    helper.destroy_subscription(subscription)


def test_the_camera_companion_answers_parameter_services(namespaced):
    """`ros2 param list` calls list_parameters on every node of the graph: the companion must answer."""
    from helpers.ros_harness import Harness

    node, helper = namespaced
    Harness.wait_for(lambda: ("reasoner_graph_cameras", "/robot1") in helper.get_node_names_and_namespaces(), 10,
                     "the companion in the graph")
    client = helper.create_client(ListParameters, "/robot1/reasoner_graph_cameras/list_parameters")
    assert client.wait_for_service(timeout_sec=5.0), "the companion has no list_parameters service"
    future = client.call_async(ListParameters.Request())
    Harness.wait_for(future.done, 2.0, "the companion's list_parameters answer")
    assert "use_sim_time" in future.result().result.names
    helper.destroy_client(client)


def rosout(helper, node_name: str) -> list:
    records: list = []
    helper.create_subscription(Log, "/rosout", lambda m: records.append(m) if m.name.endswith(node_name) else None,
                               100)
    return records


def test_core_logging_reaches_the_node_logger_with_levels(namespaced):
    from helpers.ros_harness import Harness

    node, helper = namespaced
    records = rosout(helper, "reasoner_graph")
    Harness.wait_for(lambda: helper.count_publishers("/rosout") > 0, 5, "rosout")
    core = logging.getLogger("cosmos_reason_ros.core.models.openai_backend")
    marker = "bridge-probe"
    # Subscriptions need a moment to match: repeat the probe until one arrives.
    Harness.wait_for(lambda: core.warning("%s warning", marker) or any(marker in r.msg for r in records), 10,
                     "a core warning on /rosout")
    core.info("%s info", marker)
    core.debug("%s debug", marker)  # below the node's level (info): not forwarded
    try:
        raise ZeroDivisionError("probe")
    except ZeroDivisionError:
        core.exception("%s error", marker)
    Harness.wait_for(lambda: any(f"{marker} error" in r.msg for r in records), 5, "the error record")
    levels = {r.msg.split("] ", 1)[1].split("\n")[0]: r.level for r in records if marker in r.msg}
    assert levels[f"{marker} warning"] == Log.WARN and levels[f"{marker} info"] == Log.INFO
    assert levels[f"{marker} error"] == Log.ERROR and f"{marker} debug" not in levels
    error = next(r for r in records if f"{marker} error" in r.msg)
    assert "Traceback" in error.msg and "ZeroDivisionError: probe" in error.msg
    assert error.name == node.get_logger().name


def test_an_unexpected_error_is_logged_with_its_traceback_and_answered_unknown(namespaced):
    """Fault injection: publishing the outputs raises a non-package error; the goal ends UNKNOWN, the log says
    where (traceback), and the node keeps serving."""
    from rclpy.action import ActionClient

    from helpers.ros_harness import Harness

    node, helper = namespaced
    Harness.wait_for(lambda: node.parts.model.backend.ready, 60, "the model")
    records = rosout(helper, "reasoner_graph")
    original = node.parts.outputs.publish_plan

    def faulty_publish(*args, **kwargs):
        raise RuntimeError("fault injected by the test")

    node.parts.outputs.publish_plan = faulty_publish
    client = ActionClient(helper, ReasonAboutTask, "/robot1/reasoner_graph/reason")
    try:
        assert client.wait_for_server(timeout_sec=10)
        future = client.send_goal_async(ReasonAboutTask.Goal(task="bring me the red cup"))
        Harness.wait_for(future.done, 10, "acceptance")
        result = future.result().get_result_async()
        Harness.wait_for(result.done, 60, "the result")
        assert result.result().result.error_code == Result.UNKNOWN
        assert "fault injected" in result.result().result.error_msg
        Harness.wait_for(lambda: any("failed unexpectedly" in r.msg for r in records), 5, "the error log")
        logged = next(r for r in records if "failed unexpectedly" in r.msg)
        assert logged.level == Log.ERROR and "Traceback" in logged.msg and "faulty_publish" in logged.msg
    finally:
        node.parts.outputs.publish_plan = original
        client.destroy()
