"""Standing watches in the node: declared watches, the four services, ``~/alerts``, ``~/watch_states``, diagnostics.

Services (cosmos_reason_ros/srv): ``~/add_watch`` (AddWatch), ``~/remove_watch`` (RemoveWatch),
``~/set_watch_enabled`` (SetWatchEnabled), ``~/list_watches`` (ListWatches). An invalid request is refused
with an error code and the reason, and nothing changes. Topics: ``~/alerts`` (Alert, ``qos.ALERTS``) on
every state change; ``~/watch_states`` (WatchStates, ``qos.LATCHED``) after every check and change, so a
late subscriber sees every watch's state at once.

``WatchService`` is the watches part of the reasoner nodes: it owns the watches held (``WatchBoard``) and the
check thread (``WatchRunner``), and is driven through configure / activate / deactivate / cleanup.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from std_msgs.msg import Header

from cosmos_reason_ros.core.datatypes import GenerationStats
from cosmos_reason_ros.core.errors import InvalidRequestError
from cosmos_reason_ros.core.modes.watches import (
    PERIOD_NOT_MET_FACTOR,
    ModelTurn,
    Transition,
    WatchSpec,
    WatchState,
    validate_spec,
)
from cosmos_reason_ros.msg import Alert, WatchStates
from cosmos_reason_ros.msg import WatchState as WatchStateMsg
from cosmos_reason_ros.ros import qos
from cosmos_reason_ros.ros.cameras import clips as clip_collection
from cosmos_reason_ros.ros.cameras.ingest import CameraIngest
from cosmos_reason_ros.ros.conversions import now_seconds, seen_msgs, stats_msg, to_time
from cosmos_reason_ros.ros.node.model import ModelPart
from cosmos_reason_ros.ros.node.parameters import SettingsSource
from cosmos_reason_ros.ros.watches.parameters import (
    answer_code,
    declare_watch_parameters,
    msg_from_spec,
    severity_code,
    spec_from_msg,
)
from cosmos_reason_ros.ros.watches.runner import WatchBoard, WatchEntry, WatchRunner
from cosmos_reason_ros.ros.watches.visuals import Raised
from cosmos_reason_ros.srv import AddWatch, ListWatches, RemoveWatch, SetWatchEnabled

Codes = AddWatch.Response  # the error codes are the same in every watch service
#: Shows a watch that entered or left RAISED: (alert header, evidence frame or None, raised now).
ShowRaised = Callable[[Header, np.ndarray | None, bool], None]


class WatchService:
    """The watches part: watch management, the check thread, and their outputs."""

    def __init__(self, node: Any, settings: SettingsSource, model: ModelPart, cameras: Callable[[], CameraIngest],
                 turn: ModelTurn, accepting: Callable[[], bool], show_raised: ShowRaised) -> None:
        """Declares the ``watches.*`` parameters. ``accepting``: whether the node takes requests now (active);
        ``show_raised``: draws raised watches (the outputs part)."""
        self._node = node
        self._log = node.get_logger()
        self._settings = settings
        self._cameras = cameras
        self._accepting = accepting
        self._show_raised = show_raised
        self.board = WatchBoard(turn)
        self.runner = WatchRunner(self._log, self.board, turn, settings, model, cameras,
                                  lambda: now_seconds(node), self._on_checked)
        self._declared = declare_watch_parameters(node)
        self._services: list = []
        self._alerts_pub: Any = None
        self._states_pub: Any = None

    # ----------------------------------------------------------------------------------- phases
    def configure(self) -> None:
        node = self._node
        self._alerts_pub = node.create_publisher(Alert, "~/alerts", qos.ALERTS)
        self._states_pub = node.create_publisher(WatchStates, "~/watch_states", qos.LATCHED)
        group = MutuallyExclusiveCallbackGroup()
        # One at a time, kept as made: a configure that fails half-way has its services cleaned up too.
        for srv_type, name, callback in ((AddWatch, "~/add_watch", self._on_add_watch),
                                         (RemoveWatch, "~/remove_watch", self._on_remove_watch),
                                         (SetWatchEnabled, "~/set_watch_enabled", self._on_set_watch_enabled),
                                         (ListWatches, "~/list_watches", self._on_list_watches)):
            self._services.append(node.create_service(srv_type, name, callback, callback_group=group))
        for spec in self._declared:
            try:
                self._add(spec, replace=False)
            except InvalidRequestError as e:  # a bad declared watch is left out; the node keeps serving
                self._log.error(f"watches.{spec.name}: {e.message}")
        self._publish_states()

    def activate(self) -> None:
        self.runner.activate()

    def deactivate(self) -> None:
        """Stop checking; every watch becomes UNKNOWN (announced), so no one trusts a state nobody checks."""
        self.runner.deactivate()
        for entry, transition in self.board.mark_all_unknown("not checked: the node is inactive"):
            self._announce(entry, transition)
        self._publish_states()

    def cleanup(self) -> None:
        for service in self._services:
            self._node.destroy_service(service)
        for publisher in (self._alerts_pub, self._states_pub):
            if publisher is not None:
                self._node.destroy_publisher(publisher)
        self._services, self._alerts_pub, self._states_pub = [], None, None
        self.board.clear()

    # ---------------------------------------------------------------------------------- reading
    def entry(self, name: str) -> WatchEntry | None:
        return self.board.get(name)

    def entries(self) -> dict[str, WatchEntry]:
        return self.board.entries()

    def raised(self) -> Raised:
        return self.board.raised()

    # --------------------------------------------------------------------------------- changes
    def _validated(self, spec: WatchSpec) -> WatchSpec:
        """The spec checked against the node's cameras, buffer and limits (InvalidRequestError with the reason)."""
        s = self._settings()
        cameras = list(self._cameras().cameras)
        spec = validate_spec(spec, cameras, s.max_task_chars)
        try:
            clip_collection.frame_request(spec, s, cameras)  # history and frames vs. the buffer
        except InvalidRequestError as e:
            raise InvalidRequestError(f"watch {spec.name!r} refused: {e.message}") from e
        return spec

    def _add(self, spec: WatchSpec, replace: bool) -> WatchEntry:
        entry, old = self.board.add(self._validated(spec), replace)
        self._ended(old, "replaced: the watch starts over")
        return entry

    def _ended(self, old: WatchEntry | None, reason: str) -> None:
        """A watch that was RAISED or CLEARED is removed or replaced: say so on ~/alerts (UNKNOWN), so no
        subscriber keeps acting on a state that no longer exists."""
        if old is not None and old.tracker.state != WatchState.UNKNOWN:
            previous = old.tracker.state
            old.tracker.reason = reason
            self._announce(old, Transition(previous, WatchState.UNKNOWN, reason))

    def _on_add_watch(self, request: Any, response: Any) -> Any:
        try:
            if not self._accepting():
                return self._refuse(response, Codes.NOT_ACTIVE, "the node is not active")
            entry = self._add(spec_from_msg(request.watch), replace=request.replace)
        except InvalidRequestError as e:
            return self._refuse(response, Codes.INVALID_WATCH, e.message)
        except KeyError:
            return self._refuse(response, Codes.ALREADY_EXISTS,
                                f"a watch named {request.watch.name!r} exists (set replace to replace it)")
        self._log.info(f"watch {entry.spec.name} added: {entry.spec.question!r} every {entry.spec.period:g} s")
        response.success, response.error_code, response.state = True, Codes.NONE, self._state_msg(entry)
        self._publish_states()
        return response

    def _on_remove_watch(self, request: Any, response: Any) -> Any:
        entry = self.board.remove(request.name)
        if entry is None:
            return self._refuse(response, Codes.NOT_FOUND, f"no watch named {request.name!r}")
        self._ended(entry, "removed")
        self._log.info(f"watch {request.name} removed")
        response.success, response.error_code = True, Codes.NONE
        self._publish_states()
        return response

    def _on_set_watch_enabled(self, request: Any, response: Any) -> Any:
        try:
            changed, change = self.board.set_enabled(request.name, request.enabled)
        except KeyError:
            return self._refuse(response, Codes.NOT_FOUND, f"no watch named {request.name!r}")
        if change is not None:
            self._announce(*change)
        if changed:
            self._publish_states()
        response.success, response.error_code = True, Codes.NONE
        return response

    def _on_list_watches(self, request: Any, response: Any) -> Any:
        held = self.board.entries()
        unknown = [n for n in request.names if n not in held]
        response.watches = [self._state_msg(e) for n, e in held.items() if not request.names or n in request.names]
        response.success = not unknown
        response.error_code = Codes.NOT_FOUND if unknown else Codes.NONE
        response.error_msg = f"no watch named {', '.join(unknown)}" if unknown else ""
        return response

    @staticmethod
    def _refuse(response: Any, code: int, message: str) -> Any:
        response.success, response.error_code, response.error_msg = False, code, message
        return response

    # --------------------------------------------------------------------------------- outputs
    def _on_checked(self, entry: WatchEntry, transition: Transition | None) -> None:
        """The runner finished a check of ``entry``: announce a state change, publish the states."""
        if transition is not None:
            self._announce(entry, transition)
        self._publish_states()

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

    def _publish_states(self) -> None:
        states = [self._state_msg(entry) for entry in self.board.entries().values()]
        if self._states_pub is not None:
            self._states_pub.publish(WatchStates(header=Header(stamp=self._node.get_clock().now().to_msg()),
                                                 watches=states))

    def _announce(self, entry: WatchEntry, transition: Transition) -> None:
        """Log and publish one state change; a watch entering or leaving RAISED is drawn too."""
        alert = self._alert_msg(entry, transition)
        text = f"watch {entry.spec.name}: {transition.previous.name} -> {transition.state.name} ({transition.reason})"
        if transition.state == WatchState.RAISED:
            self._log.warning(text)
        else:
            self._log.info(text)
        if self._alerts_pub is not None:
            self._alerts_pub.publish(alert)
        if WatchState.RAISED in (transition.state, transition.previous):
            evidence = entry.last_view[1] if entry.last_view is not None else None
            self._show_raised(alert.header, evidence, transition.state == WatchState.RAISED)

    def _alert_msg(self, entry: WatchEntry, transition: Transition) -> Alert:
        last, outcome = entry.tracker.last, entry.evidence
        now = Header(stamp=self._node.get_clock().now().to_msg())
        header, evidence = seen_msgs(outcome.seen if outcome is not None else [], now)
        stats = outcome.generation.stats if outcome is not None else GenerationStats()
        return Alert(header=header, watch=entry.spec.name, question=entry.spec.question, state=int(transition.state),
                     previous_state=int(transition.previous), severity=severity_code(entry.spec),
                     reason=transition.reason, answer=answer_code(last.answer if last else None),
                     confidence=float(last.confidence) if last else -1.0,
                     explanation=last.explanation if last else "", evidence=evidence,
                     model_id=outcome.model_id if outcome is not None else "", check_time=float(entry.check_time),
                     stats=stats_msg(stats, entry.check_time))

    def status(self, prefix: str, now_ns: int) -> list[DiagnosticStatus]:
        """One entry per watch: state, configured and achieved period, checks, skipped by cause, last error."""
        statuses = []
        for entry in self.board.entries().values():
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
                ("check", "reasoning" if spec.reasoning else "one token"),
                ("achieved_period_s", f"{stats.achieved_period:.3f}"), ("period_met", not behind),
                ("checks", stats.checks), ("skipped", sum(stats.skipped.values())),
                ("last_check_time_s", f"{entry.check_time:.3f}"), ("last_error", stats.last_error),
                ("suppressed_by_cooldown", tracker.suppressed))]
            values += [KeyValue(key=f"skipped_{cause}", value=str(n)) for cause, n in sorted(stats.skipped.items())]
            statuses.append(DiagnosticStatus(level=level, name=f"{prefix}: watch {spec.name}", message=message,
                                             hardware_id=spec.name, values=values))
        return statuses
