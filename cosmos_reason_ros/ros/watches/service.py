"""Standing watches in the node: declared watches, the four services, ``~/alerts``, ``~/watch_states``, diagnostics.

Services (cosmos_reason_ros/srv): ``~/add_watch`` (AddWatch), ``~/remove_watch`` (RemoveWatch),
``~/set_watch_enabled`` (SetWatchEnabled), ``~/list_watches`` (ListWatches). An invalid request is refused
with an error code and the reason, and nothing changes. Topics: ``~/alerts`` (Alert, reliable, volatile,
depth ``ALERT_DEPTH``) on every state change; ``~/watch_states`` (WatchStates, reliable, transient local,
depth 1) after every check and change, so a late subscriber sees every watch's state at once.

``WatchService`` is mixed into the reasoner nodes with ``WatchRunner`` (the check thread); the node calls
``_init_watches`` (declare), ``_configure_watches`` / ``_cleanup_watches`` and ``_start_watches`` /
``_stop_watches`` from its lifecycle phases, ``_watch_diagnostics`` from its diagnostics timer and
``_take_model_from_watches`` before a goal uses the model.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Optional

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from cosmos_reason_ros.core.errors import InvalidRequestError
from cosmos_reason_ros.core.datatypes import GenerationStats
from cosmos_reason_ros.core.modes.watches import PERIOD_NOT_MET_FACTOR, Transition, WatchSpec, WatchState, WatchTracker, validate_spec
from cosmos_reason_ros.msg import Alert, CameraFrames, WatchState as WatchStateMsg, WatchStates
from cosmos_reason_ros.srv import AddWatch, ListWatches, RemoveWatch, SetWatchEnabled
from cosmos_reason_ros.ros.cameras import clips as clip_collection
from cosmos_reason_ros.ros.conversions import frame_stamps, stats_msg, to_time
from cosmos_reason_ros.ros.watches.parameters import answer_code, declare_watch_parameters, msg_from_spec, severity_code, spec_from_msg
from cosmos_reason_ros.ros.cameras.image_conversion import rgb_to_image_fields
from cosmos_reason_ros.ros.watches.runner import WatchEntry, WatchRunner
from cosmos_reason_ros.ros.watches.visuals import banner, raised_marker, with_raised

#: Alerts kept for a subscriber that reads slowly (every change matters: reliable, never dropped by a burst).
ALERT_DEPTH = 50
STATES_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
ALERTS_QOS = QoSProfile(depth=ALERT_DEPTH, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
_Codes = AddWatch.Response  # the error codes are the same in every watch service


class WatchService(WatchRunner):
    """Watch management and outputs (a mixin of the node classes)."""

    # ----------------------------------------------------------------------------------- phases
    def _init_watches(self) -> None:
        self._init_runner()
        self._declared_watches = declare_watch_parameters(self)
        self._watch_services: list = []
        self._watch_publishers: list = []

    def _configure_watches(self) -> None:
        self.alerts_pub = self.create_publisher(Alert, "~/alerts", ALERTS_QOS)
        self.watch_states_pub = self.create_publisher(WatchStates, "~/watch_states", STATES_QOS)
        self._watch_publishers = [self.alerts_pub, self.watch_states_pub]
        group = MutuallyExclusiveCallbackGroup()
        self._watch_services = [
            self.create_service(AddWatch, "~/add_watch", self._on_add_watch, callback_group=group),
            self.create_service(RemoveWatch, "~/remove_watch", self._on_remove_watch, callback_group=group),
            self.create_service(SetWatchEnabled, "~/set_watch_enabled", self._on_set_watch_enabled,
                                callback_group=group),
            self.create_service(ListWatches, "~/list_watches", self._on_list_watches, callback_group=group),
        ]
        for spec in self._declared_watches:
            try:
                self._add(spec, replace=False)
            except InvalidRequestError as e:  # a bad declared watch is left out; the node keeps serving
                self.get_logger().error(f"watches.{spec.name}: {e.message}")
        self._publish_watch_states()

    def _start_watches(self) -> None:
        self._start_runner()

    def _stop_watches(self) -> None:
        """Stop checking; every watch becomes UNKNOWN (announced), so no one trusts a state nobody checks."""
        self._stop_runner()
        with self.watch_lock:
            changes = [(e, e.tracker.mark_unknown("not checked: the node is inactive")) for e in self.watches.values()]
        for entry, transition in changes:
            if transition is not None:
                self._announce(entry, transition)
        self._publish_watch_states()

    def _cleanup_watches(self) -> None:
        for service in self._watch_services:
            self.destroy_service(service)
        for publisher in self._watch_publishers:
            self.destroy_publisher(publisher)
        self._watch_services, self._watch_publishers = [], []
        with self.watch_lock:
            for name in list(self.watches):
                self.watch_schedule.remove(name)
            self.watches.clear()

    # --------------------------------------------------------------------------------- changes
    def _validated(self, spec: WatchSpec) -> WatchSpec:
        """The spec checked against the node's cameras, buffer and limits (InvalidRequestError with the reason)."""
        s = self.settings
        spec = validate_spec(spec, list(self.ingest.cameras), s.max_task_chars)
        try:
            clip_collection.frame_request(spec, s, list(self.ingest.cameras))  # history and frames vs. the buffer
        except InvalidRequestError as e:
            raise InvalidRequestError(f"watch {spec.name!r} refused: {e.message}") from e
        return spec

    def _add(self, spec: WatchSpec, replace: bool) -> WatchEntry:
        spec = self._validated(spec)
        with self.watch_lock:
            if spec.name in self.watches and not replace:
                raise KeyError(spec.name)
            if self._checking == spec.name:
                self.model_turn.stop_check()
            entry = WatchEntry(spec, WatchTracker(spec))
            old = self.watches.pop(spec.name, None)
            self.watch_schedule.remove(spec.name)
            self.watches[spec.name] = entry
            if spec.enabled:
                self.watch_schedule.add(spec.name, time.monotonic())
            else:
                entry.tracker.reason = "disabled"
        self._watch_wake.set()
        self._ended(old, "replaced: the watch starts over")
        return entry

    def _ended(self, old: Optional[WatchEntry], reason: str) -> None:
        """A watch that was RAISED or CLEARED is removed or replaced: say so on ~/alerts (UNKNOWN), so no
        subscriber keeps acting on a state that no longer exists."""
        if old is not None and old.tracker.state != WatchState.UNKNOWN:
            previous = old.tracker.state
            old.tracker.reason = reason
            self._announce(old, Transition(previous, WatchState.UNKNOWN, reason))

    def _on_add_watch(self, request: Any, response: Any) -> Any:
        try:
            if not self._accepting:
                return self._refuse(response, _Codes.NOT_ACTIVE, "the node is not active")
            entry = self._add(spec_from_msg(request.watch), replace=request.replace)
        except InvalidRequestError as e:
            return self._refuse(response, _Codes.INVALID_WATCH, e.message)
        except KeyError:
            return self._refuse(response, _Codes.ALREADY_EXISTS,
                                f"a watch named {request.watch.name!r} exists (set replace to replace it)")
        self.get_logger().info(f"watch {entry.spec.name} added: {entry.spec.question!r} every {entry.spec.period:g} s")
        response.success, response.error_code, response.state = True, _Codes.NONE, self._state_msg(entry)
        self._publish_watch_states()
        return response

    def _on_remove_watch(self, request: Any, response: Any) -> Any:
        with self.watch_lock:
            entry = self.watches.pop(request.name, None)
            self.watch_schedule.remove(request.name)
            if entry is not None and self._checking == request.name:
                self.model_turn.stop_check()
        if entry is None:
            return self._refuse(response, _Codes.NOT_FOUND, f"no watch named {request.name!r}")
        self._ended(entry, "removed")
        self.get_logger().info(f"watch {request.name} removed")
        response.success, response.error_code = True, _Codes.NONE
        self._publish_watch_states()
        return response

    def _on_set_watch_enabled(self, request: Any, response: Any) -> Any:
        with self.watch_lock:
            entry = self.watches.get(request.name)
            if entry is None:
                return self._refuse(response, _Codes.NOT_FOUND, f"no watch named {request.name!r}")
            changed = entry.spec.enabled != request.enabled
            if changed:
                entry.spec = dataclasses.replace(entry.spec, enabled=request.enabled)
                previous = entry.tracker
                entry.tracker = WatchTracker(entry.spec)  # enabling starts over; disabling says "disabled"
                if request.enabled:
                    self.watch_schedule.add(request.name, time.monotonic())
                else:
                    entry.tracker.reason = "disabled"
                    self.watch_schedule.remove(request.name)
                    if self._checking == request.name:
                        self.model_turn.stop_check()
        if changed:
            self._watch_wake.set()
            if previous.state != WatchState.UNKNOWN:
                self._announce(entry, Transition(previous.state, WatchState.UNKNOWN, entry.tracker.reason))
            self._publish_watch_states()
        response.success, response.error_code = True, _Codes.NONE
        return response

    def _on_list_watches(self, request: Any, response: Any) -> Any:
        with self.watch_lock:
            unknown = [n for n in request.names if n not in self.watches]
            names = [n for n in self.watches if not request.names or n in request.names]
            response.watches = [self._state_msg(self.watches[n]) for n in names]
        response.success = not unknown
        response.error_code = _Codes.NOT_FOUND if unknown else _Codes.NONE
        response.error_msg = f"no watch named {', '.join(unknown)}" if unknown else ""
        return response

    @staticmethod
    def _refuse(response: Any, code: int, message: str) -> Any:
        response.success, response.error_code, response.error_msg = False, code, message
        return response

    # --------------------------------------------------------------------------------- outputs
    def _state_msg(self, entry: WatchEntry) -> WatchStateMsg:
        tracker, stats = entry.tracker, entry.stats
        last = tracker.last
        return WatchStateMsg(
            watch=msg_from_spec(entry.spec), state=int(tracker.state), reason=tracker.reason,
            last_answer=answer_code(last.answer if last else None),
            last_confidence=float(last.confidence) if last else -1.0,
            last_explanation=last.explanation if last else "",
            last_check=to_time(entry.last_check_ros), checks=stats.checks,
            checks_skipped=sum(stats.skipped.values()), achieved_period=float(stats.achieved_period),
            consecutive=max(tracker.raising, tracker.clearing))

    def _publish_watch_states(self) -> None:
        with self.watch_lock:
            states = [self._state_msg(entry) for entry in self.watches.values()]
        if self._watch_publishers:
            self.watch_states_pub.publish(WatchStates(header=Header(stamp=self.get_clock().now().to_msg()),
                                                      watches=states))

    def _announce(self, entry: WatchEntry, transition: Any) -> None:
        alert = self._alert_msg(entry, transition)
        text = f"watch {entry.spec.name}: {transition.previous.name} -> {transition.state.name} ({transition.reason})"
        if transition.state == WatchState.RAISED:
            self.get_logger().warning(text)
        else:
            self.get_logger().info(text)
        if self._watch_publishers:
            self.alerts_pub.publish(alert)
        if WatchState.RAISED in (transition.state, transition.previous):
            self._show_raised(entry, alert.header, transition.state == WatchState.RAISED)

    def _show_raised(self, entry: WatchEntry, header: Header, raised_now: bool) -> None:
        """Markers: the raised-watches marker (or its deletion); image: the evidence frame with the banner."""
        s, raised = self.settings, self.raised_watches()
        if s.publish_markers:
            marker_header = Header(stamp=header.stamp, frame_id=s.markers_frame_id or header.frame_id)
            self.markers_pub.publish(MarkerArray(markers=[raised_marker(raised, marker_header)]))
        if s.publish_annotated_image and raised_now and entry.last_view is not None:
            pixels = banner(entry.last_view[1], raised)
            self.image_pub.publish(Image(header=header, **rgb_to_image_fields(pixels)))

    def _with_watch_markers(self, markers: MarkerArray) -> MarkerArray:
        """Hook for every MarkerArray the node publishes: raised watches stay on screen."""
        return with_raised(markers, self.raised_watches())

    def _with_watch_banner(self, image: Any) -> Any:
        """Hook for the plan's annotated image: the banner of the raised watches over it."""
        return banner(image, self.raised_watches())

    def _alert_msg(self, entry: WatchEntry, transition: Any) -> Alert:
        last, outcome = entry.tracker.last, entry.evidence
        header = Header(stamp=self.get_clock().now().to_msg())
        evidence, newest = [], -1.0
        for seen in outcome.seen if outcome is not None else []:
            stamps = frame_stamps(seen)
            evidence.append(CameraFrames(camera=seen.camera, frame_id=seen.frame_id, stamps=stamps))
            if seen.stamps and seen.stamps[-1] > newest:
                newest, header = seen.stamps[-1], Header(stamp=stamps[-1], frame_id=seen.frame_id)
        stats = outcome.generation.stats if outcome is not None else GenerationStats()
        return Alert(header=header, watch=entry.spec.name, question=entry.spec.question, state=int(transition.state),
                     previous_state=int(transition.previous), severity=severity_code(entry.spec),
                     reason=transition.reason, answer=answer_code(last.answer if last else None),
                     confidence=float(last.confidence) if last else -1.0,
                     explanation=last.explanation if last else "", evidence=evidence,
                     model_id=outcome.model_id if outcome is not None else "", check_time=float(entry.check_time),
                     stats=stats_msg(stats, entry.check_time))

    def raised_watches(self) -> list[tuple[str, str, str]]:
        """(name, severity, explanation) of every RAISED watch, for the markers and the annotated image."""
        with self.watch_lock:
            return [(e.spec.name, e.spec.severity, e.tracker.last.explanation if e.tracker.last else "")
                    for e in self.watches.values() if e.tracker.state == WatchState.RAISED]

    def _watch_diagnostics(self, prefix: str) -> list[DiagnosticStatus]:
        """One entry per watch: state, configured and achieved period, checks, skipped by cause, last error."""
        statuses = []
        with self.watch_lock:
            entries = list(self.watches.values())
        for entry in entries:
            spec, stats, tracker = entry.spec, entry.stats, entry.tracker
            level, message = DiagnosticStatus.OK, tracker.state.name.lower()
            if tracker.state == WatchState.UNKNOWN and spec.enabled:
                level, message = DiagnosticStatus.WARN, f"unknown: {tracker.reason}"
            if tracker.state == WatchState.RAISED:
                level = DiagnosticStatus.WARN if spec.severity in ("info", "warning") else DiagnosticStatus.ERROR
            behind = spec.enabled and stats.achieved_period > PERIOD_NOT_MET_FACTOR * spec.period
            if behind:
                level = max(level, DiagnosticStatus.WARN)
                message += (f"; period not met: {stats.achieved_period:.2f} s achieved of {spec.period:g} s "
                            "configured (goals hold the model, or a check takes longer than its period)")
            values = [KeyValue(key=k, value=str(v)) for k, v in (
                ("question", spec.question), ("state", tracker.state.name), ("reason", tracker.reason),
                ("enabled", spec.enabled), ("severity", spec.severity), ("period_s", f"{spec.period:g}"),
                ("achieved_period_s", f"{stats.achieved_period:.3f}"), ("period_met", not behind),
                ("checks", stats.checks), ("skipped", sum(stats.skipped.values())),
                ("last_check_time_s", f"{entry.check_time:.3f}"), ("last_error", stats.last_error),
                ("suppressed_by_cooldown", tracker.suppressed))]
            values += [KeyValue(key=f"skipped_{cause}", value=str(n)) for cause, n in sorted(stats.skipped.items())]
            statuses.append(DiagnosticStatus(level=level, name=f"{prefix}: watch {spec.name}", message=message,
                                             hardware_id=spec.name, values=values))
        return statuses
