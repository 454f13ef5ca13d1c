"""Where clips are judged: here (``local``: one model, N requests in flight to a server) or on Ray.

Both engines take the clips still to judge and hand every finished record to ``on_record`` on the calling
thread, as it finishes (the caller appends it to the report), so the report format and the resume logic
are the same whichever engine ran.

* ``local``: a thread pool of ``jobs`` workers, each decoding a clip then judging it. One local
  transformers model judges one clip at a time (its lock); against a server (vLLM batches what is in
  flight) ``jobs`` requests run at once.
* ``ray``: Ray Data reads and decodes clips in CPU tasks; an actor pool (``workers`` actors, each holding
  one model and ``gpus_per_worker`` GPUs) judges them. Start it on a cluster with ``--ray-address``.
"""
from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict
from typing import Any

import numpy as np

from cosmos_reason_ros.core.datatypes import Frame
from cosmos_reason_ros.critic.errors import InputError
from cosmos_reason_ros.critic.inputs import ClipSpec, Settings, decode
from cosmos_reason_ros.critic.judge import Judge, JudgeConfig, error_record, judge_spec

OnRecord = Callable[[dict[str, Any]], None]


def run_local(specs: Sequence[ClipSpec], config: JudgeConfig, settings: Settings, on_record: OnRecord,
              jobs: int = 1, cancel: threading.Event | None = None) -> None:
    """Judge ``specs`` here; at most ``jobs`` clips in flight. Ctrl-C stops the clips in flight (their
    records are not written, so a rerun judges them) and re-raises."""
    cancel = cancel or threading.Event()
    judge = Judge(config, cancel=cancel)
    pending: set[Future] = set()
    queue = list(specs)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="critic")
    try:
        while queue or pending:
            while queue and len(pending) < max(1, jobs):
                pending.add(pool.submit(judge_spec, judge, queue.pop(0), settings))
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                on_record(future.result())
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        if queue or pending:
            cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        judge.close()


# --- Ray ---------------------------------------------------------------------------------------------------

def _pack(frames: list[Frame]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, pixels=np.stack([f.pixels for f in frames]), stamps=np.array([f.stamp for f in frames]))
    return buffer.getvalue()


def _unpack(data: bytes) -> list[Frame]:
    with np.load(io.BytesIO(data)) as arrays:
        return [Frame(pixels, float(stamp)) for pixels, stamp in zip(arrays["pixels"], arrays["stamps"], strict=True)]


def _decode_row(row: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Ray Data map (CPU task): one spec → its packed frames, or its input error."""
    spec = ClipSpec(**json.loads(row["spec"]))
    started = time.monotonic()
    try:
        frames, error = _pack(decode(spec, Settings(**settings))), ""
    except InputError as e:
        frames, error = b"", json.dumps({"code": e.code, "message": e.message})
    except Exception as e:  # an unforeseen decoder failure: this clip only
        frames, error = b"", json.dumps({"code": "UNREADABLE_INPUT", "message": f"{type(e).__name__}: {e}"})
    return {"spec": row["spec"], "frames": frames, "error": error, "decode_s": time.monotonic() - started}


class _CriticActor:
    """Ray Data actor: one model, loaded once; judges batches of decoded clips."""

    def __init__(self, config: JudgeConfig) -> None:
        self.judge = Judge(config)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        records = []
        for spec_json, frames, error, decode_s in zip(batch["spec"], batch["frames"], batch["error"],
                                                      batch["decode_s"], strict=True):
            spec = ClipSpec(**json.loads(spec_json))
            if error:
                found = json.loads(error)
                record = error_record(spec, self.judge.config, found["code"], found["message"],
                                      {"decode_s": round(float(decode_s), 4)})
            else:
                record = self.judge(spec, _unpack(bytes(frames)), float(decode_s))
            record["worker"] = f"ray:{id(self):x}"
            records.append(json.dumps(record))
        return {"record": np.array(records, dtype=object)}


def run_ray(specs: Sequence[ClipSpec], config: JudgeConfig, settings: Settings, on_record: OnRecord, *,
            address: str = "", workers: int = 1, gpus_per_worker: float = 0.0, cpus_per_worker: float = 0.5,
            decode_cpus: float = 0.25, num_cpus: int | None = None) -> None:
    """Judge ``specs`` on Ray: a local instance (``num_cpus``), or the cluster at ``address``.

    Decoding asks for other resources than the actors (``decode_cpus`` vs ``cpus_per_worker`` and GPUs),
    which keeps Ray Data from fusing it into the actors: clips decode in CPU tasks while the models judge.
    """
    try:
        import ray
    except ImportError as e:
        raise RuntimeError("--engine ray needs Ray: pip install 'cosmos_reason_ros[ray]' (ray[data])") from e
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address or None, num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = False  # records are written as they come
        context.enable_progress_bars = False
        if decode_cpus == cpus_per_worker and not gpus_per_worker:
            decode_cpus = cpus_per_worker / 2  # equal resources would let Ray fuse decoding into the actors
        rows = [{"spec": json.dumps(spec.as_row())} for spec in specs]
        dataset = ray.data.from_items(rows, override_num_blocks=max(1, len(rows)))
        dataset = dataset.map(_decode_row, fn_kwargs={"settings": asdict(settings)}, num_cpus=decode_cpus)
        dataset = dataset.map_batches(_CriticActor, fn_constructor_kwargs={"config": config}, batch_size=1,
                                      compute=ray.data.ActorPoolStrategy(size=max(1, workers)),
                                      num_gpus=gpus_per_worker or None,
                                      num_cpus=cpus_per_worker, batch_format="numpy")
        for row in dataset.iter_rows():
            on_record(json.loads(row["record"]))
    finally:
        if started_here:
            ray.shutdown()
