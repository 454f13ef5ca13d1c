"""The thread that runs standing-watch checks: due watches round-robin, on the model only when goals leave it.

A check takes the model through ``core.watches.ModelTurn`` (only while no goal runs or waits); a goal that
arrives stops it through its stop event (the decoding loop checks it between steps) and the check is
counted as skipped ("preempted by a goal") and retried at the watch's next period. Frames come through
``clip_collection`` like a goal's, so a stale, silent or lying camera is found the same way and the watch
becomes UNKNOWN with the reason. The thread never runs inside an executor callback, so goals, services and
camera callbacks are never delayed by a check.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Optional

import numpy as np

from cosmos_reason_ros.core.errors import CanceledError, ReasonerError
from cosmos_reason_ros.core.reasoner import TaskRequest
from cosmos_reason_ros.core.datatypes import Mode, ReasoningResult
from cosmos_reason_ros.core.modes.watches import CheckResult, ModelTurn, Schedule, Transition, WatchSpec, WatchStats, WatchTracker
from cosmos_reason_ros.ros.cameras import clips as clip_collection

#: Skipped-check causes (diagnostics keys ``skipped_<cause>``).
SKIP_BUSY = "goal_running_or_waiting"
SKIP_PREEMPTED = "preempted_by_a_goal"
#: s the runner sleeps at most between looks at the schedule (a new watch wakes it at once).
IDLE_WAIT = 0.5


@dataclass
class WatchEntry:
    """What the node holds for one watch."""

    spec: WatchSpec
    tracker: WatchTracker
    stats: WatchStats = field(default_factory=WatchStats)
    last_check_ros: float = 0.0  # s, ROS time the last check ended; 0 = never
    evidence: Optional[ReasoningResult] = None  # the last check's result (frames seen, model id, stats)
    last_view: Optional[tuple[str, np.ndarray]] = None  # (camera, newest frame) of the last check that ran the model
    check_time: float = 0.0


class WatchRunner:
    """The check loop (a mixin of the node classes, with ``WatchService``)."""

    def _init_runner(self) -> None:
        self.watches: dict[str, WatchEntry] = {}
        self.watch_lock = threading.RLock()
        self.watch_schedule = Schedule()
        self.model_turn = ModelTurn(lambda: self.slots.busy)
        self._watch_wake = threading.Event()
        self._watch_stop = threading.Event()
        self._watch_thread: Optional[threading.Thread] = None
        self._checking: Optional[str] = None  # name of the watch whose check runs now

    def _start_runner(self) -> None:
        self._watch_stop.clear()
        self._watch_thread = threading.Thread(target=self._watch_loop, name="watch-checks", daemon=True)
        self._watch_thread.start()

    def _stop_runner(self, wait: float = 5.0) -> None:
        self._watch_stop.set()
        self._watch_wake.set()
        self.model_turn.stop_check()
        if self._watch_thread is not None and self._watch_thread is not threading.current_thread():
            self._watch_thread.join(timeout=wait)
        self._watch_thread = None

    def _take_model_from_watches(self, stop: threading.Event, timeout: float = 30.0) -> None:
        """Hook for goals (``_execute``): a running check lets go of the model before the goal uses it."""
        if not self.model_turn.take_for_goal(stop, timeout) and not stop.is_set():
            self.get_logger().warning(f"a watch check did not let go of the model within {timeout:.0f} s")

    # ---------------------------------------------------------------------------------------- loop
    def _watch_loop(self) -> None:
        while not self._watch_stop.is_set():
            now = time.monotonic()
            with self.watch_lock:
                wait = self.watch_schedule.wait_time(now)
                name = self.watch_schedule.next_due(now) if wait == 0.0 else None
                entry = self.watches.get(name) if name else None
            if entry is None:
                self._watch_wake.wait(IDLE_WAIT if wait is None else min(max(wait, 0.005), IDLE_WAIT))
                self._watch_wake.clear()
                continue
            try:
                self._run_check(entry)
            except Exception as e:  # a bug: say so; the loop keeps running
                self.get_logger().error(f"watch {entry.spec.name}: check failed unexpectedly: {type(e).__name__}: "
                                        f"{e}\n{traceback.format_exc().rstrip()}")
                with self.watch_lock:
                    self.watch_schedule.done(entry.spec.name, now, entry.spec.period)

    def _run_check(self, entry: WatchEntry) -> None:
        spec, started = entry.spec, time.monotonic()
        s = self.settings
        if not self.backend.ready:  # no turn needed to say so
            self._finish(entry, started, CheckResult(reason=f"model not ready: {self.backend.not_ready_message()}"))
            return
        stop = self.model_turn.begin_check()
        if stop is None:
            with self.watch_lock:
                entry.stats.skip(SKIP_BUSY)
                self.watch_schedule.done(spec.name, started, spec.period)
            return
        self._checking = spec.name
        result: Optional[CheckResult] = None
        outcome: Optional[ReasoningResult] = None
        view = None
        try:
            clips = self._watch_clips(spec, s, started + s.goal_timeout, stop)
            view = next(((c.camera, c.frames[-1].pixels) for c in clips if c.frames), None)
            request = TaskRequest(task=spec.question, mode=Mode.WATCH, clips=clips,
                                  max_new_tokens=spec.max_new_tokens or s.generation_max_new_tokens, cancel=stop,
                                  deadline=started + s.goal_timeout)
            reasoner = self._reasoner(s)
            reasoner.accept_partial = False  # a truncated answer is never a watch's answer (UNKNOWN instead)
            outcome = reasoner.run(request)
            observation = outcome.outcome.parsed.observation
            result = CheckResult(observation.answer, "", observation.confidence, observation.explanation)
        except CanceledError:
            if not self.model_turn.preempted_by_goal:  # removed, replaced, disabled or shutting down: no outcome
                with self.watch_lock:
                    if self.watches.get(spec.name) is entry and entry.spec.enabled:
                        self.watch_schedule.done(spec.name, started, spec.period)
                return
            with self.watch_lock:
                entry.stats.skip(SKIP_PREEMPTED)
                self.watch_schedule.done(spec.name, started, spec.period)
            self.get_logger().debug(f"watch {spec.name}: check preempted by a goal; retried in {spec.period:g} s")
            return
        except ReasonerError as e:
            outcome = e.partial if isinstance(e.partial, ReasoningResult) else None
            result = CheckResult(reason=f"{type(e).__name__}: {e.message}")
        finally:
            self._checking = None
            self.model_turn.end_check()
        self._finish(entry, started, result, outcome, view)

    def _watch_clips(self, spec: WatchSpec, s: Any, deadline: float, stop: threading.Event) -> list:
        """The check's frames, collected exactly as a goal's (stale, silent and undecodable cameras included)."""
        ask = SimpleNamespace(cameras=list(spec.cameras), history_seconds=spec.history_seconds,
                              max_frames=spec.max_frames)
        request = clip_collection.frame_request(ask, s, list(self.ingest.cameras))

        def on_stop(where: str) -> None:
            raise CanceledError(f"check stopped {where}")

        return clip_collection.collect_clips(self.ingest.cameras, request, s, deadline, stop, on_stop,
                                             lambda: self.get_clock().now().nanoseconds * 1e-9,
                                             self.get_logger().debug)

    def _finish(self, entry: WatchEntry, started: float, result: CheckResult,
                outcome: Optional[ReasoningResult] = None, view: Optional[tuple[str, np.ndarray]] = None) -> None:
        """Feed the result to the state machine; publish the alert (on a change) and the latched states."""
        with self.watch_lock:
            if self.watches.get(entry.spec.name) is not entry:  # removed or replaced meanwhile
                return
            entry.stats.started(started)
            entry.stats.checks += 1
            if result.reason:
                entry.stats.last_error = result.reason
            entry.check_time = time.monotonic() - started
            entry.last_check_ros = self.get_clock().now().nanoseconds * 1e-9
            entry.evidence = outcome
            if view is not None and outcome is not None:
                entry.last_view = view
            transition = entry.tracker.observe(result, time.monotonic())
            self.watch_schedule.done(entry.spec.name, started, entry.spec.period)
        if transition is not None:
            self._announce(entry, transition)
        self._publish_watch_states()

    def _announce(self, entry: WatchEntry, transition: Transition) -> None:
        """Log and publish one state change (implemented by ``WatchService``)."""
        raise NotImplementedError

    def _publish_watch_states(self) -> None:
        raise NotImplementedError
