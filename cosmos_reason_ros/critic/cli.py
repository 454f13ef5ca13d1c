"""`critic`: judge the physical plausibility of videos, image sequences and rosbag2 recordings in batch.

No ROS graph and no rclpy: ``ros2 run cosmos_reason_ros critic ...`` or the ``cosmos-reason-critic`` console
script. See docs/critic.md.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0  # every clip was judged (whatever the verdicts)
EXIT_CLIP_ERRORS = 1  # the run finished, but some clips have an error record (see the summary)
EXIT_USAGE = 2  # bad command line
EXIT_MODEL = 3  # the model could not be loaded or reached: nothing was judged
EXIT_NO_CLIPS = 4  # the inputs hold no clip at all
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: the report holds every clip finished; rerun to resume

EPILOG = f"""exit codes:
  {EXIT_OK}    every clip was judged (whatever the verdicts)
  {EXIT_CLIP_ERRORS}    finished, but some clips have an error record (unreadable input, missing topic, \
parse failure...)
  {EXIT_USAGE}    bad command line
  {EXIT_MODEL}    the model could not be loaded or reached: nothing was judged
  {EXIT_NO_CLIPS}    the inputs hold no clip
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C, SIGTERM): the report keeps every finished clip; rerun the same command \
to resume

Reruns skip clips already in the report (by path, size, mtime, topic and window); --retry-errors judges
failed ones again. Use a new --report for another model or prompt settings."""


def build_parser() -> argparse.ArgumentParser:
    from cosmos_reason_ros.core.models.families import FAMILIES
    from cosmos_reason_ros.core.models.openai_request import MEDIA, SERVERS
    from cosmos_reason_ros.critic.judge import JudgeConfig

    defaults = JudgeConfig()  # the model-side defaults, written once (judge.py, from the core's configs)
    parser = argparse.ArgumentParser(prog="critic", description=__doc__.split("\n\n")[0], epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="video files, folders of videos, image-sequence folders, "
                                                  "rosbag2 recordings (folder, .db3 or .mcap)")
    parser.add_argument("--report", "-o", type=Path, default=Path("critic_report.jsonl"),
                        help="JSON Lines report, appended to and resumed (default critic_report.jsonl)")
    parser.add_argument("--csv", type=Path, help="CSV summary (default: the report's path with .csv)")
    clips = parser.add_argument_group("clips")
    clips.add_argument("--topic", default="", help="image topic of recordings (sensor_msgs Image or CompressedImage)")
    clips.add_argument("--start", type=float, default=0.0, help="s from each source's start (default 0)")
    clips.add_argument("--end", type=float, default=0.0, help="s from each source's start; 0 = its end")
    clips.add_argument("--window", type=float, default=0.0, help="clip length in s; 0 = each source is one clip")
    clips.add_argument("--fps", type=float, default=2.0, help="frames sampled per second of clip (default 2)")
    clips.add_argument("--max-frames", type=int, default=16, help="frames per clip at most (default 16)")
    clips.add_argument("--image-rate", type=float, default=4.0,
                       help="frame rate of image-sequence folders, in frames per second (default 4)")
    judging = parser.add_argument_group("judging")
    judging.add_argument("--focus", default="", help="what to pay attention to (default: the whole clip)")
    judging.add_argument("--runs", type=int, default=1, help="judgments per clip, sampled in one batched call; the "
                                                             "confidence is the fraction without anomaly (default 1)")
    judging.add_argument("--accept", type=float, default=None,
                         help="accept clips with a score >= this (agreement 0-1 for Reason1 and Cosmos 3; "
                              "1-5 for Reason2); "
                              "default: accept clips judged plausible")
    judging.add_argument("--accepted-dir", type=Path, help="copy accepted clips here (windows as MP4)")
    judging.add_argument("--link", action="store_true", help="symlink accepted whole files instead of copying")
    judging.add_argument("--retry-errors", action="store_true", help="judge clips whose record has an error again")
    model = parser.add_argument_group("model")
    model.add_argument("--backend", choices=("transformers", "openai"), default="transformers")
    model.add_argument("--model", default=defaults.model, help="hub id or local path; or the served name")
    model.add_argument("--model-family", choices=("auto", *FAMILIES), default="auto",
                       help="prompt format; auto: from the model's config (openai: from the served name)")
    model.add_argument("--device", default="auto", help="transformers: auto | cpu | cuda | cuda:N")
    model.add_argument("--dtype", default="auto", help="transformers: auto | bfloat16 | float16 | float32")
    model.add_argument("--base-url", default=defaults.base_url, help="openai: the server's API root")
    model.add_argument("--api-key-env", default=defaults.api_key_env, help="openai: env variable with the key")
    model.add_argument("--media", choices=MEDIA, default=defaults.media,
                       help="openai: frames as images (any server) or one video per clip")
    model.add_argument("--server", choices=tuple(SERVERS), default=defaults.server,
                       help="openai: generic, vllm or nim (how the video's fps is sent; NIM's media limits)")
    model.add_argument("--jobs", type=int, default=0,
                       help="clips in flight (default: 1 for transformers, 8 for openai)")
    model.add_argument("--max-new-tokens", type=int, default=2048)
    model.add_argument("--temperature", type=float, default=None, help="default: the family's")
    model.add_argument("--seed", type=int, default=None)
    model.add_argument("--timeout", type=float, default=0.0, help="s per clip; 0 = none")
    engine = parser.add_argument_group("engine")
    engine.add_argument("--engine", choices=("local", "ray"), default="local")
    engine.add_argument("--ray-address", default="", help="Ray cluster address (default: start a local Ray)")
    engine.add_argument("--workers", type=int, default=1, help="ray: actors, each holding one model (default 1)")
    engine.add_argument("--gpus-per-worker", type=float, default=0.0, help="ray: GPUs per actor (1 = one per GPU)")
    engine.add_argument("--cpus-per-worker", type=float, default=0.5, help="ray: CPUs reserved per actor")
    engine.add_argument("--ray-cpus", type=int, default=None, help="ray: CPUs of a local Ray (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--quiet", "-q", action="store_true", help="no summary on stdout")
    return parser


def _settings(args: argparse.Namespace):
    from cosmos_reason_ros.critic.inputs import Settings

    return Settings(topic=args.topic, start=args.start, end=args.end, window=args.window, fps=args.fps,
                    max_frames=args.max_frames, image_rate=args.image_rate)


def _config(args: argparse.Namespace):
    from cosmos_reason_ros.critic.judge import JudgeConfig

    return JudgeConfig(backend=args.backend, model=args.model, model_family=args.model_family, device=args.device,
                       dtype=args.dtype, base_url=args.base_url, api_key_env=args.api_key_env, media=args.media,
                       server=args.server, runs=args.runs,
                       focus=args.focus, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                       seed=args.seed, timeout=args.timeout, accept=args.accept)


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 1 <= args.runs <= 16:
        parser.error("--runs must be 1..16")
    if args.fps <= 0 or args.max_frames < 1 or args.image_rate <= 0:
        parser.error("--fps and --image-rate must be > 0, --max-frames >= 1")
    if args.window < 0 or args.start < 0 or args.end < 0 or (args.end and args.end <= args.start):
        parser.error("--window, --start and --end must be >= 0, and --end after --start")
    if args.workers < 1 or args.jobs < 0:
        parser.error("--workers must be >= 1 and --jobs >= 0")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    from cosmos_reason_ros.core.errors import ModelLoadError
    from cosmos_reason_ros.critic.inputs import discover
    from cosmos_reason_ros.critic.report import Report, summary_text, write_csv

    settings, config = _settings(args), _config(args)
    specs = discover(args.inputs, settings)
    if not specs:
        print("critic: no clip found in the inputs", file=sys.stderr)
        return EXIT_NO_CLIPS
    report = Report(args.report)
    if report.dropped:
        print(f"critic: ignored {report.dropped} incomplete line(s) of {args.report}", file=sys.stderr)
    todo = [s for s in specs if not report.done(s.key, args.retry_errors)]
    skipped = len(specs) - len(todo)
    ready = [s for s in todo if not s.error_code]  # sources that failed discovery are recorded right away
    from cosmos_reason_ros.critic.judge import error_record
    for spec in todo:
        if spec.error_code:
            report.append(error_record(spec, config, spec.error_code, spec.error))
    progress = _progress(len(ready), args.no_progress, skipped)
    exported: list[str] = []

    def on_record(record: dict[str, Any]) -> None:
        if (record.get("error") or {}).get("code") == "CANCELED":
            return  # interrupted mid-clip: not judged, so a rerun judges it
        report.append(record)
        if args.accepted_dir and record.get("accepted"):
            exported.append(_export(record, args, settings))
        progress.update(1)

    code = EXIT_OK
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if ready:
            _run(args, ready, config, settings, on_record)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except ModelLoadError as e:
        print(f"critic: the model could not be loaded: {e}", file=sys.stderr)
        code = EXIT_MODEL
    except RuntimeError as e:  # Ray missing or failing to start, an actor that could not load its model
        print(f"critic: {e}", file=sys.stderr)
        code = EXIT_MODEL
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.close()
        report.close()
    records = [report.records[s.key] for s in specs if s.key in report.records]
    csv_path = args.csv or args.report.with_suffix(".csv")
    write_csv(records, csv_path, args.accept)
    if not args.quiet:
        print(summary_text(records, args.accept))
        print(f"report {args.report} ({skipped} clip(s) already there were skipped), csv {csv_path}"
              + (f", {len(exported)} accepted clip(s) in {args.accepted_dir}" if args.accepted_dir else ""))
    if code == EXIT_OK and any(r.get("error") for r in records):
        code = EXIT_CLIP_ERRORS
    if code == EXIT_INTERRUPTED:
        print(f"critic: interrupted; {len(records)} of {len(specs)} clip(s) are in the report; rerun to resume",
              file=sys.stderr)
    return code


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _run(args: argparse.Namespace, ready: list, config: Any, settings: Any, on_record: Any) -> None:
    from cosmos_reason_ros.critic.engines import run_local, run_ray

    if args.engine == "ray":
        try:
            run_ray(ready, config, settings, on_record, address=args.ray_address, workers=args.workers,
                    gpus_per_worker=args.gpus_per_worker, cpus_per_worker=args.cpus_per_worker,
                    num_cpus=args.ray_cpus)
        except (KeyboardInterrupt, RuntimeError):
            raise
        except Exception as e:  # Ray wraps actor failures (a model that cannot load) in its own errors
            raise RuntimeError(f"the Ray engine failed: {type(e).__name__}: {e}") from e
        return
    jobs = args.jobs or (8 if args.backend == "openai" else 1)
    run_local(ready, config, settings, on_record, jobs=jobs)


def _export(record: dict[str, Any], args: argparse.Namespace, settings: Any) -> str:
    from cosmos_reason_ros.critic.accepted import export

    try:
        return str(export(record, args.accepted_dir, settings, args.link))
    except Exception as e:  # the record is written; a failed copy is reported, not fatal
        print(f"critic: could not export {record.get('source')}: {e}", file=sys.stderr)
        return ""


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, disabled: bool, skipped: int) -> Any:
    if disabled or total == 0:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit="clip", desc="critic", dynamic_ncols=True, file=sys.stderr,
                postfix={"skipped": skipped} if skipped else None, mininterval=0.5, smoothing=0.1)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
