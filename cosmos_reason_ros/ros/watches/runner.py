"""How a watch is checked: the watches held (``WatchBoard``) and the thread that checks them (``WatchRunner``).

Due watches are checked round-robin; a one-token watch (``reasoning`` false, the default) takes along every
other one-token watch due now whose frames are chosen the same way (``FrameKey``: cameras, window, frame
count), and they are checked in ONE call over one collection of frames (``check_one_token``: one prefill of
the video for a local model). A watch is checked with the same frame choice whichever watches join it.
Checks run on the model only when goals leave it: a check takes the model through
``core.modes.watches.ModelTurn`` (only while no goal runs or waits); a goal that arrives stops it through its
stop event (the decoding loop checks it between steps) and the check is counted as skipped ("preempted by a
goal") and retried at the watch's next period. Frames come through ``cameras.clips`` like a goal's, so a
stale, silent or lying camera is found the same way and the watch becomes UNKNOWN with the reason. The
thread never runs inside an executor callback, so goals, services and camera callbacks are never delayed
by a check. What a check found goes to ``on_checked`` (the watch service publishes it).
"""
from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from cosmos_reason_ros.core.datatypes import CameraClip, Mode, ReasoningResult
from cosmos_reason_ros.core.errors import CanceledError, ReasonerError
from cosmos_reason_ros.core.modes.watches import (
    CheckResult,
    FrameKey,
    ModelTurn,
    Schedule,
    Transition,
    WatchSpec,
    WatchState,
    WatchStats,
    WatchTracker,
    check_one_token,
)
from cosmos_reason_ros.core.reasoner import TaskRequest
from cosmos_reason_ros.ros.cameras import clips as clip_collection
from cosmos_reason_ros.ros.cameras.ingest import CameraIngest
from cosmos_reason_ros.ros.node.model import ModelPart
from cosmos_reason_ros.ros.node.parameters import Settings, SettingsSource
from cosmos_reason_ros.ros.watches.visuals import Raised

#: Skipped-check causes (diagnostics keys ``skipped_<cause>``).
SKIP_BUSY = "goal_running_or_waiting"
SKIP_PREEMPTED = "preempted_by_a_goal"
#: s the runner sleeps at most between looks at the schedule (a new watch wakes it at once).
IDLE_WAIT = 0.5
#: s to wait for the check thread to end on deactivate.
STOP_WAIT = 5.0


@dataclass
class WatchEntry:
    """What the node holds for one watch."""

    spec: WatchSpec
    tracker: WatchTracker
    stats: WatchStats = field(default_factory=WatchStats)
    last_check_ros: float = 0.0  # s, ROS time the last check ended; 0 = never
    evidence: ReasoningResult | None = None  # the last check's result (frames seen, model id, stats)
    last_view: tuple[str, np.ndarray] | None = None  # (camera, newest frame) of the last check that ran the model
    check_time: float = 0.0


Change = tuple[WatchEntry, Transition]  # a state change to announce


class WatchBoard:
    """The watches held, their schedule, and the one being checked; every change under one lock.

    Shared by the watch service (requests from ROS) and the runner (checks), which otherwise know nothing
    of each other. A change to the watch being checked stops that check (through the model turn).
    """

    def __init__(self, turn: ModelTurn) -> None:
        self._turn = turn
        self._entries: dict[str, WatchEntry] = {}
        self._lock = threading.RLock()
        self._schedule = Schedule()
        self._wake = threading.Event()
        self._checking: frozenset[str] = frozenset()

    # ------------------------------------------------------------------------------------ reading
    def get(self, name: str) -> WatchEntry | None:
        with self._lock:
            return self._entries.get(name)

    def entries(self) -> dict[str, WatchEntry]:
        """A snapshot: name → entry, in the order they were added."""
        with self._lock:
            return dict(self._entries)

    def raised(self) -> Raised:
        """(name, severity, explanation) of every RAISED watch, for the markers and the annotated image."""
        with self._lock:
            return [(e.spec.name, e.spec.severity, e.tracker.last.explanation if e.tracker.last else "")
                    for e in self._entries.values() if e.tracker.state == WatchState.RAISED]

    # ------------------------------------------------------------------------------------ changes
    def add(self, spec: WatchSpec, replace: bool) -> tuple[WatchEntry, WatchEntry | None]:
        """Add (or with ``replace``, replace) a validated watch; KeyError if it exists. (new, replaced)."""
        with self._lock:
            if spec.name in self._entries and not replace:
                raise KeyError(spec.name)
            self._stop_if_checking(spec.name)
            entry = WatchEntry(spec, WatchTracker(spec))
            old = self._entries.pop(spec.name, None)
            self._schedule.remove(spec.name)
            self._entries[spec.name] = entry
            if spec.enabled:
                self._schedule.add(spec.name, time.monotonic())
            else:
                entry.tracker.reason = "disabled"
        self._wake.set()
        return entry, old

    def remove(self, name: str) -> WatchEntry | None:
        with self._lock:
            entry = self._entries.pop(name, None)
            self._schedule.remove(name)
            if entry is not None:
                self._stop_if_checking(name)
        return entry

    def set_enabled(self, name: str, enabled: bool) -> tuple[bool, Change | None]:
        """Enable (the watch starts over) or disable ("disabled") a watch; KeyError if there is none.
        (whether anything changed, the change to announce when it was RAISED or CLEARED)."""
        with self._lock:
            entry = self._entries[name]
            if entry.spec.enabled == enabled:
                return False, None
            entry.spec = dataclasses.replace(entry.spec, enabled=enabled)
            previous = entry.tracker
            entry.tracker = WatchTracker(entry.spec)
            if enabled:
                self._schedule.add(name, time.monotonic())
            else:
                entry.tracker.reason = "disabled"
                self._schedule.remove(name)
                self._stop_if_checking(name)
        self._wake.set()
        if previous.state == WatchState.UNKNOWN:
            return True, None
        return True, (entry, Transition(previous.state, WatchState.UNKNOWN, entry.tracker.reason))

    def mark_all_unknown(self, reason: str) -> list[Change]:
        with self._lock:
            changes = [(e, e.tracker.mark_unknown(reason)) for e in self._entries.values()]
        return [(entry, transition) for entry, transition in changes if transition is not None]

    def clear(self) -> None:
        with self._lock:
            for name in list(self._entries):
                self._schedule.remove(name)
            self._entries.clear()

    def _stop_if_checking(self, name: str) -> None:
        if name in self._checking:
            self._turn.stop_check()

    # ------------------------------------------------------------------------------ for the runner
    def next_due(self) -> tuple[WatchEntry | None, float | None]:
        """The watch due now, or None and the time until the next one (None: none scheduled)."""
        now = time.monotonic()
        with self._lock:
            wait = self._schedule.wait_time(now)
            name = self._schedule.next_due(now) if wait == 0.0 else None
            return (self._entries.get(name) if name else None), wait

    def due_with(self, entry: WatchEntry, key: Callable[[WatchSpec], FrameKey | None]) -> list[WatchEntry]:
        """``entry`` and every other enabled one-token watch due now whose ``key`` equals its own (None: none)."""
        own = key(entry.spec)
        if own is None or entry.spec.reasoning:
            return [entry]
        now = time.monotonic()
        with self._lock:
            others = [self._entries[name] for name in self._schedule.due(now)
                      if name != entry.spec.name and name in self._entries]
        return [entry] + [e for e in others if e.spec.enabled and not e.spec.reasoning and key(e.spec) == own]

    def wait(self, wait: float | None) -> None:
        """Sleep until a change or the next due time (at most ``IDLE_WAIT``)."""
        self._wake.wait(IDLE_WAIT if wait is None else min(max(wait, 0.005), IDLE_WAIT))
        self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def checking(self, names: Iterable[str]) -> None:
        """The watches whose check runs now (empty: none); removing or changing one of them stops it."""
        with self._lock:
            self._checking = frozenset(names)

    def reschedule(self, entry: WatchEntry, started: float, skipped: str = "") -> None:
        """The check of ``entry`` ended without an outcome (``skipped``: the cause to count); next period."""
        with self._lock:
            if skipped:
                entry.stats.skip(skipped)
            if self._entries.get(entry.spec.name) is entry and entry.spec.enabled:
                self._schedule.done(entry.spec.name, started, entry.spec.period)

    def record(self, entry: WatchEntry, started: float, result: CheckResult, outcome: ReasoningResult | None,
               view: tuple[str, np.ndarray] | None, now_ros: float) -> tuple[bool, Transition | None]:
        """Feed a check's result to the watch's state machine: (still held, the transition it caused)."""
        with self._lock:
            if self._entries.get(entry.spec.name) is not entry:  # removed or replaced meanwhile
                return False, None
            entry.stats.started(started)
            entry.stats.checks += 1
            if result.reason:
                entry.stats.last_error = result.reason
            entry.check_time = time.monotonic() - started
            entry.last_check_ros = now_ros
            entry.evidence = outcome
            if view is not None and outcome is not None:
                entry.last_view = view
            transition = entry.tracker.observe(result, time.monotonic())
            self._schedule.done(entry.spec.name, started, entry.spec.period)
        return True, transition


class WatchRunner:
    """The check thread (started at activate, joined at deactivate)."""

    def __init__(self, logger: Any, board: WatchBoard, turn: ModelTurn, settings: SettingsSource, model: ModelPart,
                 cameras: Callable[[], CameraIngest], now: Callable[[], float],
                 on_checked: Callable[[WatchEntry, Transition | None], None]) -> None:
        """``now``: ROS time in seconds; ``on_checked``: told after each check that had an outcome."""
        self._log = logger
        self._board = board
        self._turn = turn
        self._settings = settings
        self._model = model
        self._cameras = cameras
        self._now = now
        self._on_checked = on_checked
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the check thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def activate(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="watch-checks", daemon=True)
        self._thread.start()

    def deactivate(self) -> None:
        self._stop.set()
        self._board.wake()
        self._turn.stop_check()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=STOP_WAIT)
        self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            entry, wait = self._board.next_due()
            if entry is None:
                self._board.wait(wait)
                continue
            started = time.monotonic()
            group = [entry]
            try:
                if entry.spec.reasoning:
                    self._check(entry, started)
                else:
                    group = self._board.due_with(entry, self._frame_key)
                    self._check_one_token(group, started)
            except Exception as e:  # a bug: say so; the loop keeps running
                self._log.error(f"watch {entry.spec.name}: check failed unexpectedly: {type(e).__name__}: "
                                f"{e}\n{traceback.format_exc().rstrip()}")
                for member in group:
                    self._board.reschedule(member, started)

    def _frame_key(self, spec: WatchSpec) -> FrameKey | None:
        """How ``spec``'s frames are chosen, resolved against the settings (None: its request is invalid, so
        it is checked alone and says why)."""
        ask = SimpleNamespace(cameras=list(spec.cameras), history_seconds=spec.history_seconds,
                              max_frames=spec.max_frames)
        try:
            request = clip_collection.frame_request(ask, self._settings(), list(self._cameras().cameras))
        except ReasonerError:
            return None
        return FrameKey(tuple(request.cameras), float(request.history_seconds), int(request.max_frames))

    def _check_one_token(self, group: list[WatchEntry], started: float) -> None:
        """Check ``group`` (watches due now that share their frame choice) in one call, one token each."""
        s = self._settings()
        backend = self._model.backend
        if backend is None or not backend.ready:
            reason = backend.not_ready_message() if backend is not None else "no backend"
            for entry in group:
                self._finish(entry, started, CheckResult(reason=f"model not ready: {reason}"))
            return
        stop = self._turn.begin_check()
        if stop is None:
            for entry in group:
                self._board.reschedule(entry, started, skipped=SKIP_BUSY)
            return
        self._board.checking(e.spec.name for e in group)
        outcomes: list[tuple[CheckResult, ReasoningResult | None]] = []
        view = None
        try:
            clips = self._clips(group[0].spec, s, started + s.goal_timeout, stop)
            view = next(((c.camera, c.frames[-1].pixels) for c in clips if c.frames), None)
            outcomes = list(check_one_token(self._model.reasoner(s), [e.spec.question for e in group], clips, stop,
                                            started + s.goal_timeout))
        except CanceledError:
            skipped = SKIP_PREEMPTED if self._turn.preempted_by_goal else ""
            for entry in group:
                self._board.reschedule(entry, started, skipped=skipped)
            if skipped:
                self._log.debug(f"watch(es) {', '.join(e.spec.name for e in group)}: check preempted by a goal")
            return
        except ReasonerError as e:
            outcomes = [(CheckResult(reason=f"{type(e).__name__}: {e.message}"), None)] * len(group)
        finally:
            self._board.checking(())
            self._turn.end_check()
        for entry, (result, outcome) in zip(group, outcomes, strict=True):
            self._finish(entry, started, result, outcome, view)

    def _check(self, entry: WatchEntry, started: float) -> None:
        spec, s = entry.spec, self._settings()
        backend = self._model.backend
        if backend is None or not backend.ready:  # no turn needed to say so
            reason = backend.not_ready_message() if backend is not None else "no backend"
            self._finish(entry, started, CheckResult(reason=f"model not ready: {reason}"))
            return
        stop = self._turn.begin_check()
        if stop is None:
            self._board.reschedule(entry, started, skipped=SKIP_BUSY)
            return
        self._board.checking((spec.name,))
        result: CheckResult | None = None
        outcome: ReasoningResult | None = None
        view = None
        try:
            clips = self._clips(spec, s, started + s.goal_timeout, stop)
            view = next(((c.camera, c.frames[-1].pixels) for c in clips if c.frames), None)
            request = TaskRequest(task=spec.question, mode=Mode.WATCH, clips=clips,
                                  max_new_tokens=spec.max_new_tokens or s.generation_max_new_tokens, cancel=stop,
                                  deadline=started + s.goal_timeout)
            reasoner = self._model.reasoner(s)
            reasoner.accept_partial = False  # a truncated answer is never a watch's answer (UNKNOWN instead)
            outcome = reasoner.run(request)
            observation = outcome.outcome.parsed.observation
            result = CheckResult(observation.answer, "", observation.confidence, observation.explanation)
        except CanceledError:
            if not self._turn.preempted_by_goal:  # removed, replaced, disabled or shutting down: no outcome
                self._board.reschedule(entry, started)
                return
            self._board.reschedule(entry, started, skipped=SKIP_PREEMPTED)
            self._log.debug(f"watch {spec.name}: check preempted by a goal; retried in {spec.period:g} s")
            return
        except ReasonerError as e:
            outcome = e.partial if isinstance(e.partial, ReasoningResult) else None
            result = CheckResult(reason=f"{type(e).__name__}: {e.message}")
        finally:
            self._board.checking(())
            self._turn.end_check()
        self._finish(entry, started, result, outcome, view)

    def _clips(self, spec: WatchSpec, s: Settings, deadline: float, stop: threading.Event) -> list[CameraClip]:
        """The check's frames, collected exactly as a goal's (stale, silent and undecodable cameras included)."""
        ask = SimpleNamespace(cameras=list(spec.cameras), history_seconds=spec.history_seconds,
                              max_frames=spec.max_frames)
        cameras = self._cameras().cameras
        request = clip_collection.frame_request(ask, s, list(cameras))

        def on_stop(where: str) -> None:
            raise CanceledError(f"check stopped {where}")

        return clip_collection.collect_clips(cameras, request, s, deadline, stop, on_stop, self._now, self._log.debug)

    def _finish(self, entry: WatchEntry, started: float, result: CheckResult,
                outcome: ReasoningResult | None = None, view: tuple[str, np.ndarray] | None = None) -> None:
        held, transition = self._board.record(entry, started, result, outcome, view, self._now())
        if held:
            self._on_checked(entry, transition)
