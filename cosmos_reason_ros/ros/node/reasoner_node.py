"""The reasoner node: cameras in, task goals answered with typed plans out.

ROS Parameters
    All parameters, their defaults, ranges and meaning are in ``cosmos_reason_ros.ros.node.parameters``
    (``PARAMETERS``) and ``config/reasoner.yaml``. Read-only ones (model, backend, cameras, QoS, buffers)
    need a restart; the rest apply from the next goal. Highlights: ``model``, ``backend``,
    ``cameras.names`` with ``cameras.<name>.topic``, ``frames.history_seconds``, ``frames.max_frames``,
    ``video.max_visual_tokens``, ``generation.max_new_tokens``, ``busy_policy``, ``goal_timeout``.

Subscriptions
    ``cameras.<name>.topic`` (sensor_msgs/Image, or sensor_msgs/CompressedImage for ``.../compressed``):
    sensor-data QoS by default; the callback only stores the message in a bounded ring buffer. Topics
    resolve against this node (its namespace and remappings apply); the subscriptions themselves live on a
    companion node ``<name>_cameras`` with an executor thread of its own, so goals and services never
    delay a frame (see ``cameras.ingest``).

Publishers
    ``~/plan`` (cosmos_reason_ros/TaskPlan): every successful plan; reliable, transient local, depth 1.
    ``~/feasibility`` (cosmos_reason_ros/FeasibilityJudgment): the verdict of every plan; same QoS.
    ``~/markers`` (visualization_msgs/MarkerArray): verdict, steps and live reasoning as text, for rviz.
    ``~/annotated_image`` (sensor_msgs/Image): the newest frame used, with verdict and steps drawn.
    ``/diagnostics`` (diagnostic_msgs/DiagnosticArray): model state, camera rates/ages/drops, goal stats.
    ``~/detections`` (vision_msgs/Detection2DArray, only where vision_msgs is installed): the boxes of
    every plan's located objects (plan.objects, MODE_LOCATE or goal ground_targets); same QoS as ~/plan.
    Depth: ``cameras.<name>.depth_topic`` and ``camera_info_topic`` give located objects 3D points
    (``depth``, docs/grounding.md).

Actions
    ``~/reason`` (cosmos_reason_ros/ReasonAboutTask): goals are accepted and validated (INVALID_GOAL
    with a message), run one at a time on the model under ``busy_policy``, stream feedback, honour
    cancel between decoding steps (CANCELED) and end with an error code, never a hang (TIMEOUT).
    Goal execution is in ``goals.execution``; queued goals hold no executor thread (``goals.slots``).

Standing watches
    Services ``~/add_watch``, ``~/remove_watch``, ``~/set_watch_enabled``, ``~/list_watches``; topics
    ``~/alerts`` and ``~/watch_states`` (latched); checks on a thread of their own, goals first
    (``watches.service``, ``watches.runner``; parameters ``watches.*`` in ``watches.parameters``).

Parts
    ``NodeParts`` builds the parts and drives their phases, the same for the plain and the managed node:
    model (``node.model``), cameras (``cameras.part``), outputs (``outputs.publishers``), goals
    (``goals.execution``), watches (``watches.service``), diagnostics (``node.diagnostics``). Each part is
    constructed with what it uses; what two parts share (the goal slots, the model turn) is built here
    and handed to both. A configure that fails in some part cleans up what every part had made and raises
    ``ConfigureError``, so the next configure starts from nothing (no duplicate nodes, topics or timers).

Shutdown
    SIGINT / SIGTERM (``shutdown``), ``destroy_node`` and the lifecycle's deactivate/shutdown end every
    running and queued goal with SHUTDOWN, the result sent before the action server goes away; then the
    cameras, the model (a backend the node built is closed, the loader joined) and rclpy are torn down.
    The managed variant is ``lifecycle_node.ReasonerLifecycleNode`` (executable ``reasoner_lifecycle``).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.node import Node

from cosmos_reason_ros.core.models.backend import ModelBackend
from cosmos_reason_ros.core.modes.watches import ModelTurn
from cosmos_reason_ros.ros.cameras.ingest import CameraIngest
from cosmos_reason_ros.ros.cameras.part import CamerasPart
from cosmos_reason_ros.ros.goals.execution import GoalServer
from cosmos_reason_ros.ros.goals.slots import GoalSlots
from cosmos_reason_ros.ros.node import log_bridge
from cosmos_reason_ros.ros.node.diagnostics import DiagnosticsPart
from cosmos_reason_ros.ros.node.model import ModelPart
from cosmos_reason_ros.ros.node.parameters import Settings, check_choices, declare_parameters
from cosmos_reason_ros.ros.outputs.publishers import OutputsPart
from cosmos_reason_ros.ros.watches.service import WatchService


class ConfigureError(RuntimeError):
    """A part failed to configure; everything the configure had made is cleaned up again (the cause is chained)."""


class NodeParts:
    """The reasoner's parts, built once per node and driven through lifecycle phases.

    ``configure``: settings read, backend built, cameras subscribed, publishers, action server, services,
    timers. ``activate``: model loading started, goals and watch checks accepted. ``deactivate``: goals
    ended (SHUTDOWN), watch checks stopped, model unloaded. ``cleanup``: everything configure made,
    destroyed. The plain node runs the first two in its constructor and the last two in ``destroy_node``;
    the managed node runs each on its transition.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        declare_parameters(node)
        node.add_on_set_parameters_callback(self._on_set_parameters)
        self.settings = Settings.read(node)
        self.configured = False
        self.slots = GoalSlots(self.settings.busy_policy, self.settings.max_queue)
        turn = ModelTurn(lambda: self.slots.busy)
        settings = lambda: self.settings  # noqa: E731  (parameter changes replace the object)
        self.model = ModelPart(node.get_logger(), frame_cache=lambda: self.cameras.frame_cache)
        self.cameras = CamerasPart(node, settings)
        self.outputs = OutputsPart(node, settings, raised=lambda: self.watches.raised(),
                                   default_frame_id=self.cameras.first_frame_id)
        self.goals = GoalServer(node, settings, self.model, self.cameras.current, self.outputs, self.slots, turn)
        self.watches = WatchService(node, settings, self.model, self.cameras.current, turn,
                                    accepting=lambda: self.goals.accepting, show_raised=self.outputs.show_raised)
        self.diagnostics = DiagnosticsPart(node, [self._model_status, self.cameras.status, self.goals.status,
                                                  self.watches.status])
        log_bridge.install(node.get_logger())

    # ------------------------------------------------------------------------------------- phases
    def configure(self, backend: ModelBackend | None = None, owned: bool | None = None) -> None:
        """``backend``: use this one instead of building it (``owned``: whether deactivate closes it).

        All or nothing: when a part fails, every part configured so far and the failing one (whatever it made
        before it failed) are cleaned up, in reverse order, and ``ConfigureError`` is raised from the cause; the
        node is then as unconfigured as before, so a later configure makes no duplicates."""
        node = self.node
        self.settings = s = Settings.read(node)
        steps: list[tuple[str, Callable[[], None], Callable[[], None]]] = [
            ("model", lambda: self.model.configure(s, backend, owned), self.model.cleanup),
            ("cameras", self.cameras.configure, self.cameras.cleanup),
            ("outputs", self.outputs.configure, self.outputs.cleanup),
            ("goals", self.goals.configure, self.goals.cleanup),
            ("watches", self.watches.configure, self.watches.cleanup),
            ("diagnostics", lambda: self.diagnostics.configure(s.diagnostics_period), self.diagnostics.cleanup),
        ]
        begun: list[tuple[str, Callable[[], None]]] = []
        for name, configure, cleanup in steps:
            begun.append((name, cleanup))  # before it runs: a part that fails half-way cleans up what it made
            try:
                configure()
            except Exception as e:
                self._undo(reversed(begun))
                raise ConfigureError(f"the {name} part failed to configure: {type(e).__name__}: {e}") from e
        self.configured = True

    def _undo(self, cleanups: Iterable[tuple[str, Callable[[], None]]]) -> None:
        """Clean up parts of a configure that failed; a cleanup that fails too is logged, the rest still run."""
        for name, cleanup in cleanups:
            try:
                cleanup()
            except Exception as e:  # the configure error is the one to raise; this one is said, not lost
                self.node.get_logger().error(f"cleaning up the {name} part after a failed configure: "
                                             f"{type(e).__name__}: {e}")

    def activate(self) -> None:
        self.model.activate()
        self.goals.activate()
        self.watches.activate()
        s, node = self.settings, self.node
        node.get_logger().info(
            f"{node.get_name()} up: model {self.model.backend.model_id!r} ({s.backend}) loading in the background; "
            f"cameras {list(self.cameras.topics)}; busy_policy {s.busy_policy}")

    def deactivate(self, wait: float = 2.0) -> bool:
        """End every goal (SHUTDOWN) with its result sent, stop the checks, unload the model. True if all
        goals ended."""
        ended = self.goals.deactivate(wait)
        self.watches.deactivate()
        self.model.deactivate()
        return ended

    def cleanup(self) -> None:
        """Destroy what ``configure`` created (after ``deactivate``); every part's cleanup destroys only what
        exists, so a second call does nothing."""
        self.configured = False
        self.diagnostics.cleanup()
        self.goals.cleanup()
        self.watches.cleanup()
        self.cameras.cleanup()
        self.outputs.cleanup()
        self.model.cleanup()

    def teardown(self, wait: float = 2.0) -> None:
        """Everything ``destroy_node`` owes: goals ended with their results sent, model unloaded, parts gone."""
        if self.configured:
            self.deactivate(wait)
            self.cleanup()
        log_bridge.uninstall(self.node.get_logger())

    # ---------------------------------------------------------------------------- shared readings
    @property
    def ingest(self) -> CameraIngest | None:
        """The cameras' ingest (buffers per camera) while configured, else None."""
        return self.cameras.ingest

    def _model_status(self, prefix: str, now_ns: int) -> list[DiagnosticStatus]:
        return [self.model.status(prefix, self.settings.backend)]

    def _on_set_parameters(self, parameters: list) -> Any:
        result = check_choices(parameters)
        if result.successful:
            # rclpy has already checked types, ranges and read-only; goals accepted from now on see the change.
            changes = {p.name.replace(".", "_"): p.value for p in parameters}
            self.settings = dataclasses.replace(
                self.settings, **{k: v for k, v in changes.items() if k in Settings.__dataclass_fields__})
            self.slots.configure(self.settings.busy_policy, self.settings.max_queue)
        return result


class ReasonerNode(Node):
    """Action server that reasons about tasks over the recent video of its cameras."""

    def __init__(self, backend: ModelBackend | None = None, node_name: str = "cosmos_reasoner",
                 **node_kwargs: Any) -> None:
        """``backend``: a backend to use instead of the one the parameters describe (the caller closes it)."""
        super().__init__(node_name, **node_kwargs)
        self.parts = NodeParts(self)
        try:
            self.parts.configure(backend)  # cleans up after itself when it fails
        except Exception:
            # Nobody gets this node to destroy: take it (its parameter services, its log bridge) out of the graph.
            log_bridge.uninstall(self.get_logger())
            super().destroy_node()
            raise
        self.parts.activate()

    def shutdown(self, wait: float = 2.0) -> bool:
        """Stop accepting goals and end every goal (SHUTDOWN), results sent; idempotent. True if all ended."""
        return self.parts.goals.end_all(wait)

    def destroy_node(self) -> None:
        self.parts.teardown()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run cosmos_reason_ros reasoner``: spin until SIGINT/SIGTERM, then shut down
    in order (see ``shutdown``); exit status 0."""
    from cosmos_reason_ros.ros.node.shutdown import run_node

    return run_node(lambda: ReasonerNode(), args, exit_process=True)
