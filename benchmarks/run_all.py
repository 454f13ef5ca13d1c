#!/usr/bin/env python3
"""Run every CPU benchmark and regenerate the tables of docs/benchmarks.md.

    COSMOS_VENV=/path/to/.venv python3 benchmarks/run_all.py     # builds, runs (< 10 min on 2 cores), writes

It builds the package (``scripts/build.sh``), re-runs itself under ``scripts/env.sh`` if the built package
is not importable yet, runs ingest.py, goal_overhead.py, preprocessing.py and watch_latency.py with the settings below
(their JSON lands in ``benchmarks/out/``, ignored by git), and rewrites only what lies between the
``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->`` markers of the document: hand-written prose
around them stays. ``--from-json DIR`` re-renders the document from earlier JSON without measuring.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOC = REPO / "docs" / "benchmarks.md"

#: Decode speed anchors (tokens/s) from shared/COSMOS-REASON.md, for the overhead ratio.
ANCHORS = [("HF transformers eager, 7-8B bf16, A100/H100", 40.0), ("vLLM, Qwen2.5-7B bf16, A100", 84.0),
           ("vLLM, Cosmos-Reason2-8B W4A16, Jetson AGX Orin", 19.0)]
ANSWER_TOKENS = 500

# Each run: (JSON name, script, arguments for the full run, arguments for --quick).
RUNS: list[tuple[str, str, list[str], list[str]]] = [
    ("ingest_matrix", "ingest.py",
     ["--seconds", "5", "--warmup", "1.5"],
     ["--cameras", "1", "--sizes", "320x240", "--seconds", "1", "--warmup", "0.5"]),
    ("ingest_setups", "ingest.py",
     ["--cameras", "2", "--sizes", "1920x1080", "--encodings", "rgb8", "--goal", "off", "--subscriber", "node",
      "bare", "bare-raw", "--ingest", "own-thread", "node-executor", "--seconds", "5", "--warmup", "1.5"],
     ["--cameras", "1", "--sizes", "320x240", "--encodings", "rgb8", "--goal", "off", "--subscriber", "node", "bare",
      "bare-raw", "--ingest", "own-thread", "node-executor", "--seconds", "1", "--warmup", "0.5"]),
    ("ingest_setups_goal", "ingest.py",
     ["--cameras", "2", "--sizes", "640x480", "--encodings", "jpeg", "--goal", "on", "--ingest", "own-thread",
      "node-executor", "--seconds", "5", "--warmup", "1.5"],
     ["--cameras", "1", "--sizes", "320x240", "--encodings", "jpeg", "--goal", "on", "--ingest", "own-thread",
      "node-executor", "--seconds", "1", "--warmup", "0.5"]),
    ("ingest_transport", "ingest.py",
     ["--cameras", "1", "--sizes", "640x480", "1920x1080", "--encodings", "rgb8", "--goal", "off", "--subscriber",
      "bare", "--dds-profile", "default", "--seconds", "5", "--warmup", "1.5", "--discovery-timeout", "5"],
     ["--cameras", "1", "--sizes", "640x480", "--encodings", "rgb8", "--goal", "off", "--subscriber", "bare",
      "--dds-profile", "default", "--seconds", "1", "--warmup", "0.5", "--discovery-timeout", "2"]),
    ("ingest_plateau", "ingest.py",
     ["--cameras", "4", "--sizes", "1920x1080", "--encodings", "rgb8", "--goal", "on", "--seconds", "60"],
     ["--cameras", "1", "--sizes", "320x240", "--encodings", "rgb8", "--goal", "on", "--seconds", "2",
      "--warmup", "0.5"]),
    ("goal_overhead", "goal_overhead.py",
     ["--goals", "20", "--stream-goals", "3", "--stream-tokens", "400"],
     ["--goals", "2", "--stream-goals", "1", "--stream-tokens", "40", "--prepare-sizes", "320x240",
      "--prepare-frames", "4", "--prepare-repeats", "1"]),
    ("preprocessing", "preprocessing.py",
     [],
     ["--families", "reason1", "--sizes", "320x240", "--frames", "4", "--budgets", "1024", "--repeats", "1"]),
    ("preprocessing_hd", "preprocessing.py",
     ["--families", "reason1", "--sizes", "1920x1080", "--max-frame-pixels", "921600"],
     ["--families", "reason1", "--sizes", "640x480", "--frames", "4", "--budgets", "4096",
      "--max-frame-pixels", "921600", "--repeats", "1"]),
    # Standing watches: 3 watches at 1 s, a goal every 5 s.
    ("watch_latency", "watch_latency.py",
     ["--goals", "12", "--goal-period", "5", "--watches", "3", "--watch-period", "1"],
     ["--goals", "2", "--goal-period", "1", "--watches", "3", "--watch-period", "1"]),
]


def ensure_environment(argv: list[str]) -> None:
    """Re-execute under scripts/env.sh (venv, ROS 2, the install space) unless already there."""
    try:
        import numpy  # noqa: F401

        import cosmos_reason_ros.action  # noqa: F401
        return
    except ImportError:
        if os.environ.get("COSMOS_BENCH_REEXEC") == "1":
            sys.exit("the built package is still not importable after sourcing scripts/env.sh")
    os.environ["COSMOS_BENCH_REEXEC"] = "1"
    script = 'set +u; . "$1/scripts/env.sh" >/dev/null || exit 2; shift; exec python "$@"'
    os.execvp("bash", ["bash", "-c", script, "bash", str(REPO), str(Path(__file__).resolve()), *argv])


def build() -> None:
    log = REPO / "log" / "bench-build.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as out:
        if subprocess.run([str(REPO / "scripts" / "build.sh")], stdout=out, stderr=subprocess.STDOUT).returncode:
            sys.exit(f"build failed: see {log}")


def measure(out_dir: Path, quick: bool) -> float:
    """Run every benchmark, writing NAME.json into out_dir; return the wall time."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for name, script, full, quick_args in RUNS:
        print(f"[run_all] {name}: {script} {' '.join(quick_args if quick else full)}", file=sys.stderr, flush=True)
        began = time.monotonic()
        command = [sys.executable, str(HERE / script), *(quick_args if quick else full),
                   "--json", str(out_dir / f"{name}.json")]
        if subprocess.run(command, stdout=subprocess.DEVNULL).returncode:
            sys.exit(f"{script} failed")
        print(f"[run_all] {name} done in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    wall = time.monotonic() - started
    (out_dir / "run_all.json").write_text(json.dumps({"wall_s": wall, "quick": quick}))
    return wall


# ------------------------------------------------------------------------------------------- rendering
def load(out_dir: Path, name: str) -> dict[str, Any] | None:
    path = out_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def ingest_table(data: dict[str, Any] | None, render: str = "table") -> str:
    """An ingest run's results as one of ingest.py's tables (``table`` or ``memory_table``)."""
    import ingest

    if data is None:
        return "_not run_"
    return getattr(ingest, render)([ingest.CaseResult(**r) for r in data["results"]])


def settings_line(data: dict[str, Any] | None, keys: list[str]) -> str:
    if data is None:
        return ""
    settings = data["settings"]
    return "Settings: " + ", ".join(f"{k} {settings[k]}" for k in keys if k in settings) + "."


def goal_sections(data: dict[str, Any] | None) -> dict[str, str]:
    import goal_overhead as go
    from common import fmt, markdown_table

    if data is None:
        return {name: "_not run_" for name in ("goal-overhead", "streaming", "frame-preparation")}
    times = [go.GoalTimes(**t) for t in data["goals"]]
    settings = data["settings"]
    sections = {"goal-overhead": (
        f"{len(times)} goals ({data['succeeded']} succeeded), {settings['cameras']} camera(s) {settings['size']} "
        f"rgb8 at 30 Hz, node defaults (8 frames at 2 fps).\n\n"
        + markdown_table(["stage", "median ms", "p90 ms", "max ms"], go.goal_rows(times)))}
    stream = data.get("stream")
    sections["streaming"] = "_not run_" if not stream else markdown_table(
        ["goals", "tokens / goal", "generation s / goal (tiny model)", "feedback msgs / s", "feedback_rate (Hz)",
         "µs / token outside the model"],
        [[stream["goals"], fmt(stream["tokens_per_goal"], 0), fmt(stream["generation_s"], 2),
          fmt(stream["feedback_per_s"], 1), fmt(stream["feedback_rate_param"], 1),
          fmt(stream["stream_us_per_token"], 0)]])
    sections["frame-preparation"] = markdown_table(
        ["camera", "encoding", "frames", "select ms", "decode ms", "prepare_clips ms", "total ms", "to the model",
         "visual tokens"],
        [[p["size"], p["encoding"], p["frames"], fmt(p["select_ms"], 3), fmt(p["decode_ms"], 1),
          fmt(p["prepare_ms"], 1), fmt(p["total_ms"], 1), p["model_frame"], p["visual_tokens"]]
         for p in data["prepare"]])
    return sections


def preprocessing_table(*runs: dict[str, Any] | None) -> str:
    import preprocessing as pp

    results = [pp.Result(**{k: v for k, v in r.items() if k != "total_ms"})
               for run in runs if run for r in run["results"]]
    return pp.table(results) if results else "_not run_"


def ratio_section(goal: dict[str, Any] | None, matrix: dict[str, Any] | None) -> str:
    """Node overhead per answer next to a 7B model's decode time for a 500-token answer."""
    from common import fmt, markdown_table

    if goal is None:
        return "_not run_"
    import statistics

    med = lambda key: statistics.median(t[key] for t in goal["goals"])  # noqa: E731
    per_goal_ms = (med("send_to_accept_ms") + med("accept_to_model_ms") + med("processor_ms")
                   + med("model_to_result_ms"))
    per_token_us = goal["stream"]["stream_us_per_token"] if goal.get("stream") else 0.0
    streaming_ms = per_token_us * ANSWER_TOKENS / 1e3
    worst_prepare = max(goal["prepare"], key=lambda p: p["total_ms"])
    rows = []
    for label, rate in ANCHORS:
        decode_ms = ANSWER_TOKENS / rate * 1e3
        rows.append([label, fmt(rate, 0), fmt(decode_ms / 1e3, 1), fmt(per_goal_ms + streaming_ms, 0),
                     f"{(per_goal_ms + streaming_ms) / decode_ms:.2%}",
                     f"{(per_goal_ms + streaming_ms + worst_prepare['total_ms']) / decode_ms:.2%}"])
    text = [
        f"Node overhead per answer, measured: {fmt(per_goal_ms, 0)} ms around the model call (median send → "
        f"accepted + accepted → model call + processor + model return → result) + {fmt(per_token_us, 0)} µs × "
        f"{ANSWER_TOKENS} tokens of streaming work = {fmt(streaming_ms, 0)} ms. Worst frame preparation measured "
        f"({worst_prepare['frames']} frames {worst_prepare['size']} {worst_prepare['encoding']}): "
        f"{fmt(worst_prepare['total_ms'], 0)} ms.\n",
        markdown_table(["decode speed anchor", "tok/s", f"{ANSWER_TOKENS}-token answer (s)", "node overhead (ms)",
                        "overhead ÷ decode", "with the worst frame preparation"], rows),
    ]
    idle = [r for r in matrix["results"] if not r["goal"]] if matrix is not None else []
    if idle:
        worst = max(idle, key=lambda r: r["cpu_share"])
        text.append(f"\nContinuous cost of camera ingest (idle node, highest measured): {worst['cameras']} × "
                    f"{worst['size']} {worst['encoding']} at 30 Hz = {worst['cpu_share']:.0%} of one core, "
                    f"{worst['delivered']:.1%} of frames delivered.")
    return "\n".join(text)


def machine_section(out_dir: Path, wall: float | None, quick: bool) -> str:
    from common import machine_line

    data = next((d for d in (load(out_dir, name) for name, *_ in RUNS) if d), None)
    if data is None:
        return "_not run_"
    lines = [f"Measured on: {machine_line(data['machine'])}."]
    matrix = load(out_dir, "ingest_matrix")
    if matrix is not None:
        lines.append(f"DDS transport (except where a table says otherwise): {matrix['settings']['transport']}.")
    if wall is not None:
        lines.append(f"`benchmarks/run_all.py{' --quick' if quick else ''}` took {wall / 60:.1f} min.")
    if quick:
        lines.append("**Quick settings (smoke test): these figures are not representative.**")
    return "  \n".join(lines)


def render(out_dir: Path, wall: float | None, quick: bool) -> dict[str, str]:
    matrix, goal = load(out_dir, "ingest_matrix"), load(out_dir, "goal_overhead")
    keys = ["seconds", "warmup", "rate", "torch_threads"]
    sections = {
        "machine": machine_section(out_dir, wall, quick),
        "ingest-matrix": settings_line(matrix, keys) + "\n\n" + ingest_table(matrix),
        "ingest-setups": ingest_table(load(out_dir, "ingest_setups")) + "\n\nWith a goal generating:\n\n"
        + ingest_table(load(out_dir, "ingest_setups_goal")),
        "ingest-transport": ingest_table(load(out_dir, "ingest_transport")),
        "ingest-plateau": settings_line(load(out_dir, "ingest_plateau"), keys) + "\n\n"
        + ingest_table(load(out_dir, "ingest_plateau")) + "\n\nResident memory (MB), median of each 10 s:\n\n"
        + ingest_table(load(out_dir, "ingest_plateau"), "memory_table"),
        "preprocessing": preprocessing_table(load(out_dir, "preprocessing"), load(out_dir, "preprocessing_hd")),
        "ratio": ratio_section(goal, matrix),
    }
    sections.update(goal_sections(goal))
    sections["watch-latency"] = watch_section(load(out_dir, "watch_latency"))
    return sections


def watch_section(data: dict[str, Any] | None) -> str:
    """Standing watches: goal latency with and without watches, each watch's achieved period."""
    if data is None:
        return "_not run_"
    import watch_latency
    from common import machine_line

    return f"Measured on: {machine_line(data['machine'])}.\n\n" + watch_latency.tables(data)


def update_document(path: Path, sections: dict[str, str]) -> None:
    """Replace the text between each section's markers; everything else is left as it is."""
    text = path.read_text()
    for name, body in sections.items():
        pattern = re.compile(rf"(<!-- generated:{re.escape(name)} -->).*?(<!-- /generated:{re.escape(name)} -->)",
                             re.DOTALL)
        if not pattern.search(text):
            sys.exit(f"{path}: markers <!-- generated:{name} --> ... <!-- /generated:{name} --> not found")
        text = pattern.sub(lambda m, body=body: f"{m.group(1)}\n{body.strip()}\n{m.group(2)}", text)
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long settings (smoke test only)")
    parser.add_argument("--no-build", action="store_true", help="use the install space as it is")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="where the JSON results go")
    parser.add_argument("--from-json", type=Path, help="render the document from this folder's JSON; measure nothing")
    parser.add_argument("--doc", type=Path, default=DOC, help="the document to update")
    args = parser.parse_args(raw)
    if not args.no_build and not args.from_json and os.environ.get("COSMOS_BENCH_REEXEC") != "1":
        build()
    ensure_environment(raw)
    sys.path.insert(0, str(HERE))
    from common import isolate_dds

    isolate_dds()
    out_dir = args.from_json or args.out
    if args.from_json:
        run = load(out_dir, "run_all") or {}
        wall, quick = run.get("wall_s"), run.get("quick", False)
    else:
        wall, quick = measure(out_dir, args.quick), args.quick
    update_document(args.doc, render(out_dir, wall, quick))
    print(f"[run_all] wrote {args.doc}" + (f" after {wall / 60:.1f} min" if wall else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
