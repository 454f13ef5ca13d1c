"""/diagnostics: the part that publishes it, and the content: model state, per-camera rates and ages, goal
statistics, GPU memory, the frame caches' hits, misses and bytes held.

Every other part contributes its own entries through a status provider handed to ``DiagnosticsPart``;
this part only gathers them on its timer and publishes one DiagnosticArray.

Status names start with the node's fully qualified name (``/robot1/cosmos_reasoner: model``), so two
reasoners in different namespaces never share an entry; camera entries name the resolved topic.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from std_msgs.msg import Header

from cosmos_reason_ros.core.frames.frame_cache import CacheStats
from cosmos_reason_ros.core.models.backend import BackendState, ModelBackend
from cosmos_reason_ros.ros.cameras.ingest import Camera
from cosmos_reason_ros.ros.qos import DIAGNOSTICS_DEPTH

#: A part's contribution: its entries, given the name prefix and the ROS time now (ns).
StatusProvider = Callable[[str, int], Sequence[DiagnosticStatus]]


@dataclass
class GoalStats:
    """Counters of goals since start, for diagnostics."""

    accepted: int = 0
    rejected: int = 0
    succeeded: int = 0
    failed_by_code: dict[str, int] = field(default_factory=dict)
    last_total_time: float = -1.0
    last_time_to_first_token: float = -1.0
    last_tokens_per_second: float = 0.0
    last_error: str = ""


def _kv(key: str, value: object) -> KeyValue:
    return KeyValue(key=key, value=str(value))


def model_status(prefix: str, backend: ModelBackend, backend_kind: str, load_seconds: float | None) -> DiagnosticStatus:
    level = {BackendState.READY: DiagnosticStatus.OK, BackendState.FAILED: DiagnosticStatus.ERROR}.get(
        backend.state, DiagnosticStatus.WARN)
    message = {BackendState.READY: "ready", BackendState.LOADING: "loading", BackendState.UNLOADED: "not loaded",
               BackendState.FAILED: f"load failed: {backend.load_error}"}[backend.state]
    values = [_kv("model", backend.model_id), _kv("backend", backend_kind), _kv("state", backend.state.value),
              _kv("family", backend.family.name if backend.family else "")]
    if load_seconds is not None:
        values.append(_kv("load_seconds", f"{load_seconds:.1f}"))
    for key, number in backend.memory_stats().items():
        values.append(_kv(f"gpu_memory_{key}_mb", f"{number / 2**20:.0f}"))
    preprocessing = getattr(backend, "preprocessing", None)  # local backends: device or processor
    if preprocessing is not None:
        values.append(_kv("preprocessing", preprocessing))
    cache = getattr(backend, "frame_cache", None)  # normalised frames on the model's device
    if cache is not None:
        values += frame_cache_values("normalised_cache", cache.stats())
    return DiagnosticStatus(level=level, name=f"{prefix}: model", message=message, hardware_id=backend.model_id,
                            values=values)


def frame_cache_values(key_prefix: str, stats: CacheStats) -> list[KeyValue]:
    """Hits, misses, entries and bytes of a frame cache, as diagnostic values named ``<key_prefix>_*``."""
    return [_kv(f"{key_prefix}_hits", stats.hits), _kv(f"{key_prefix}_misses", stats.misses),
            _kv(f"{key_prefix}_hit_rate", f"{stats.hit_rate:.2f}"), _kv(f"{key_prefix}_evictions", stats.evictions),
            _kv(f"{key_prefix}_entries", stats.entries), _kv(f"{key_prefix}_mb", f"{stats.bytes / 2**20:.1f}"),
            _kv(f"{key_prefix}_max_mb", f"{stats.max_bytes / 2**20:.0f}"),
            _kv(f"{key_prefix}_max_entries", stats.max_entries)]


def frame_cache_status(prefix: str, name: str, stats: CacheStats) -> DiagnosticStatus:
    """One entry for a frame cache: its hit rate in the message, its counters and size as values."""
    message = (f"{stats.hit_rate:.0%} hits ({stats.hits} of {stats.hits + stats.misses}), {stats.entries} entries, "
               f"{stats.bytes / 2**20:.1f} MB")
    return DiagnosticStatus(level=DiagnosticStatus.OK, name=f"{prefix}: {name}", message=message,
                            values=frame_cache_values("cache", stats))


def camera_status(prefix: str, camera: Camera, now_ros: float, now_mono: float, stale_after: float,
                  topic: str = "") -> DiagnosticStatus:
    """``topic``: the subscription's resolved name (namespace and remappings applied); default the configured one."""
    topic = topic or camera.config.topic
    latest = camera.buffer.latest()
    counters = camera.buffer.counters
    rate = camera.buffer.arrival_rate(now_mono)
    if latest is None:
        level, message, age = DiagnosticStatus.ERROR, "no frames", float("inf")
    else:
        age = now_ros - latest.stamp
        level, message = (DiagnosticStatus.WARN, f"stale ({age:.1f} s old)") if age > stale_after else (
            DiagnosticStatus.OK, f"{rate:.1f} Hz")
    if (counters.rejected or camera.decode_failures) and level == DiagnosticStatus.OK:
        level, message = DiagnosticStatus.WARN, (f"{rate:.1f} Hz, {counters.rejected} malformed, "
                                                 f"{camera.decode_failures} undecodable")
    values = [
        _kv("topic", topic), _kv("rate_hz", f"{rate:.2f}"), _kv("age_s", f"{age:.3f}"),
        _kv("buffered_frames", len(camera.buffer)), _kv("buffered_mb", f"{camera.buffer.nbytes / 2**20:.1f}"),
        _kv("received", counters.received), _kv("stored", counters.stored), _kv("thinned", counters.thinned),
        _kv("evicted", counters.evicted), _kv("malformed", counters.rejected),
        _kv("decode_failures", camera.decode_failures), _kv("time_jumps", counters.time_jumps),
        _kv("stamp_outliers", counters.stamp_outliers),
        _kv("last_malformed_reason", camera.last_reject_reason),
    ]
    # One counter per kind of malformed frame refused at ingest (malformed_<kind>, e.g. malformed_truncated).
    values += [_kv(f"malformed_{kind}", count) for kind, count in sorted(dict(camera.malformed_by_kind).items())]
    return DiagnosticStatus(level=level, name=f"{prefix}: camera {camera.name}", message=message,
                            hardware_id=topic, values=values)


def goals_status(prefix: str, stats: GoalStats, running: bool, queued: int) -> DiagnosticStatus:
    failed = sum(stats.failed_by_code.values())
    values = [_kv("running", running), _kv("queued", queued), _kv("accepted", stats.accepted),
              _kv("rejected", stats.rejected), _kv("succeeded", stats.succeeded), _kv("failed", failed),
              _kv("last_total_time_s", f"{stats.last_total_time:.3f}"),
              _kv("last_time_to_first_token_s", f"{stats.last_time_to_first_token:.3f}"),
              _kv("last_tokens_per_second", f"{stats.last_tokens_per_second:.1f}"), _kv("last_error", stats.last_error)]
    values.extend(_kv(f"failed_{name}", count) for name, count in sorted(stats.failed_by_code.items()))
    message = "running" if running else "idle"
    return DiagnosticStatus(level=DiagnosticStatus.OK, name=f"{prefix}: goals", message=message, values=values)


class DiagnosticsPart:
    """Publishes /diagnostics every ``period`` s from the providers of the other parts (configure/cleanup)."""

    def __init__(self, node: Any, providers: Sequence[StatusProvider]) -> None:
        self._node = node
        self._providers = list(providers)
        self.prefix = node.get_fully_qualified_name()  # entries of two reasoners never share a name
        self._publisher: Any = None
        self._timer: Any = None

    def configure(self, period: float) -> None:
        self._publisher = self._node.create_publisher(DiagnosticArray, "/diagnostics", DIAGNOSTICS_DEPTH)
        self._timer = self._node.create_timer(period, self.publish, callback_group=MutuallyExclusiveCallbackGroup())

    def cleanup(self) -> None:
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
        if self._publisher is not None:
            self._node.destroy_publisher(self._publisher)
        self._timer = self._publisher = None

    def publish(self) -> None:
        now = self._node.get_clock().now()
        status: list[DiagnosticStatus] = []
        for provider in self._providers:
            status += provider(self.prefix, now.nanoseconds)
        if self._publisher is not None:
            self._publisher.publish(DiagnosticArray(header=Header(stamp=now.to_msg()), status=status))
