"""A ReasonerLifecycleNode driven over DDS the way a lifecycle manager drives it."""
from __future__ import annotations

from typing import Any

from rclpy.parameter import Parameter

from cosmos_reason_ros.action import ReasonAboutTask

Goal = ReasonAboutTask.Goal


class ManagedRig:
    """A ReasonerLifecycleNode, a camera and a client node on one executor; transitions go over DDS through
    the lifecycle_msgs services, as a lifecycle manager would send them."""

    def __init__(self, rclpy_session, model, name: str, device: str = "cpu") -> None:
        import threading

        from lifecycle_msgs.srv import ChangeState, GetState
        from rclpy.action import ActionClient
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        from cosmos_reason_ros.ros.node.lifecycle_node import ReasonerLifecycleNode
        from helpers.ros_harness import image_msg, synthetic_frame

        self.name = name
        topic = f"/{name}/front/image_raw"
        self.node = ReasonerLifecycleNode(name, parameter_overrides=[
            Parameter("model", value=str(model)), Parameter("cameras.names", value=["front"]),
            Parameter("cameras.front.topic", value=topic), Parameter("local.device", value=device),
            Parameter("generation.max_new_tokens", value=64)])
        self.helper = rclpy_session.create_node(f"{name}_client")
        self.camera_on = True
        publisher = self.helper.create_publisher(Image, topic, qos_profile_sensor_data)
        frames = [synthetic_frame(i, 320, 240) for i in range(4)]
        count = [0]

        def publish() -> None:
            if self.camera_on:
                publisher.publish(image_msg(frames[count[0] % 4], self.helper.get_clock().now().to_msg(), "cam"))
                count[0] += 1

        self.helper.create_timer(1 / 30, publish)
        self.change = self.helper.create_client(ChangeState, f"/{name}/change_state")
        self.get = self.helper.create_client(GetState, f"/{name}/get_state")
        self.action = ActionClient(self.helper, ReasonAboutTask, f"/{name}/reason")
        self.executor = MultiThreadedExecutor(num_threads=8)
        self.executor.add_node(self.node)
        self.executor.add_node(self.helper)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        assert self.change.wait_for_service(timeout_sec=10) and self.get.wait_for_service(timeout_sec=10)

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState

        from helpers.ros_harness import Harness

        future = self.get.call_async(GetState.Request())
        Harness.wait_for(future.done, 10, "get_state")
        return future.result().current_state.label

    def transition(self, transition_id: int, timeout: float = 30.0) -> bool:
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        from helpers.ros_harness import Harness

        future = self.change.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        Harness.wait_for(future.done, timeout, f"change_state {transition_id}")
        return future.result().success

    def send(self, **fields) -> Any:
        from helpers.ros_harness import Harness

        future = self.action.send_goal_async(Goal(task="bring me the red cup", **fields))
        Harness.wait_for(future.done, 10, "goal response")
        return future.result()

    def in_graph(self, name: str) -> bool:
        return (name, "/") in self.helper.get_node_names_and_namespaces()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5)
        self.action.destroy()
        self.node.destroy_node()
        self.helper.destroy_node()
        self.thread.join(timeout=5)
