"""The benchmark scripts run end to end with tiny settings and report what they claim to report.

Each script runs as its own process (as a user runs it), writes JSON into one folder shared by this
module, and its printed table and JSON are checked for the expected columns and sane values: frames
delivered, tokens generated, timings present and positive. Speed itself is never asserted. The last test
renders docs/benchmarks.md from that folder the way ``run_all.py`` does, into a copy.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.paths import REPO

BENCHMARKS = REPO / "benchmarks"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench")


def run(script: str, out_dir: Path, name: str, *args: str) -> tuple[str, dict]:
    """Run a benchmark script; return its stdout and the JSON it wrote as ``name``.json."""
    path = out_dir / f"{name}.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args, "--json", str(path)],
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout, json.loads(path.read_text())


def header(stdout: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if line.startswith("| "))
    return [cell.strip() for cell in line.strip("|").split("|")]


def positive(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def check_ingest_case(case: dict) -> None:
    assert case["sent"] > 0 and case["received"] > 0, case
    assert 0 < case["delivered"] <= 1.0
    assert positive(case["take_ms_p50"]) and case["take_ms_p99"] >= case["take_ms_p50"]
    assert positive(case["callback_ms_p50"])
    assert positive(case["cpu_share"]) and positive(case["rss_mb_before"]) and positive(case["rss_mb_peak"])
    assert positive(case["rss_mb_at"]["end"]) and case["message_kb"] > 0


def test_ingest_with_a_goal_generating(out_dir):
    stdout, data = run("ingest.py", out_dir, "ingest_matrix", "--cameras", "1", "--sizes", "320x240",
                       "--encodings", "jpeg", "--goal", "on", "--seconds", "1.5", "--warmup", "0.5")
    assert header(stdout)[:8] == ["cameras", "size", "encoding", "goal", "setup", "KB/frame", "sent", "delivered"]
    assert {"take p50 / p99 ms", "callback p50 / p99 ms", "CPU", "goals done"} <= set(header(stdout))
    (case,) = data["results"]
    check_ingest_case(case)
    assert case["goal"] and case["setup"] == "node"
    assert case["goals"].get("succeeded", 0) >= 1, case["goals"]
    assert data["machine"]["cores"] >= 1 and "transport" in data["settings"]


def test_ingest_setups_before_and_floor(out_dir):
    _, data = run("ingest.py", out_dir, "ingest_setups", "--cameras", "2", "--sizes", "320x240", "--encodings",
                  "rgb8", "--goal", "off", "--subscriber", "node", "bare-raw", "--ingest", "node-executor",
                  "--seconds", "1", "--warmup", "0.5")
    setups = [case["setup"] for case in data["results"]]
    assert setups == ["node, cameras on its executor (before)", "bare-raw subscriber"]
    for case in data["results"]:
        check_ingest_case(case)
        assert case["cameras"] == 2 and positive(case["cpu_ms_per_frame"])


def test_goal_overhead(out_dir):
    stdout, data = run("goal_overhead.py", out_dir, "goal_overhead", "--goals", "2", "--stream-goals", "1",
                       "--stream-tokens", "30", "--prepare-sizes", "320x240", "--prepare-frames", "4",
                       "--prepare-repeats", "1", "--goal-period", "0", "--idle", "1", "--stream-before")
    assert "send → accepted" in stdout and "model return → result at the client" in stdout
    assert data["succeeded"] == 2 and len(data["goals"]) == 2
    # Both paths in one run: the old one (no frame cache, the processor) and the defaults, each with its idle goal.
    assert sorted(data["paths"]) == ["reason1/after", "reason1/before"]
    for run_ in data["paths"].values():
        assert run_["succeeded"] == 2 and positive(run_["idle"]["overhead_ms"])
        assert all(positive(goal["overhead_ms"]) for goal in run_["goals"])
    assert "frames" not in data["paths"]["reason1/before"]["caches"]  # the old path has no frame cache
    assert data["paths"]["reason1/after"]["caches"]["frames"]["misses"] > 0
    for goal in data["goals"]:
        for key in ("send_to_accept_ms", "accept_to_model_ms", "frames_ms", "prepare_ms", "processor_ms",
                    "model_ms", "model_to_result_ms"):
            assert positive(goal[key]), (key, goal)
    stream = data["stream"]
    assert stream["tokens_per_goal"] > 0 and positive(stream["stream_us_per_token"])
    assert 0 < stream["stream_cpu_us_per_token"] <= stream["stream_us_per_token"] * 1.5
    assert stream["feedback_per_s"] >= 0 and stream["feedback_rate_param"] > 0
    assert positive(data["stream_before"]["stream_us_per_token"]) and "before: a report per token" in stdout
    assert [(p["size"], p["encoding"], p["frames"], p["cache"]) for p in data["prepare"]] == [
        ("320x240", encoding, 4, cache)
        for encoding in ("rgb8", "jpeg") for cache in ("off", "same frames", "2 s later")]
    assert all(p["visual_tokens"] > 0 and positive(p["total_ms"]) for p in data["prepare"])


def test_watch_latency(out_dir):
    stdout, data = run("watch_latency.py", out_dir, "watch_latency", "--goals", "2", "--goal-period", "1",
                       "--watches", "3", "--watch-period", "1")
    assert "achieved s" in stdout and "with ÷ without" in stdout
    assert data["summary_without"]["succeeded"] == 2 and data["summary_with"]["succeeded"] == 2
    assert positive(data["ratio_median"]) and len(data["watches"]) == 3
    for watch in data["watches"]:
        assert watch["period_s"] == 1.0 and watch["checks_total"] >= 2 and positive(watch["achieved_period_s"])


def test_watch_latency_checks_compares_reasoning_and_one_token_checks(out_dir):
    stdout, data = run("watch_latency.py", out_dir, "watch_checks", "--checks", "--check-counts", "1", "2",
                       "--check-seconds", "1", "--frames", "2", "--size", "160x120", "--prefill-reps", "1")
    assert "checks / s" in stdout and "one call ÷ separate" in stdout
    rows = {(r["kind"], r["watches"]): r for r in data["throughput"]}
    assert len(rows) == 4 and all(r["checks"] > 0 and positive(r["latency_median_s"]) for r in rows.values())
    assert rows[("one-token check (after)", 2)]["tokens_per_check"] == 1
    assert rows[("reasoning check (before)", 2)]["tokens_per_check"] > 1
    assert [(r["questions"], r["prefills_together"], r["prefills_separate"]) for r in data["prefill"]] == \
        [(1, 1, 1), (2, 1, 2)]


def test_streaming_old_and_batched_paths_give_the_same_text(out_dir):
    stdout, data = run("streaming.py", out_dir, "streaming", "--tokens", "300", "--rounds", "1")
    assert header(stdout)[:2] == ["path", "median µs / token"] and "identical text" in stdout
    old, new = data["summary"].values()
    assert old["events"] == 300 and 0 < new["events"] < 300 and old["switch_at"] == new["switch_at"]
    assert positive(old["median_us_per_token"]) and positive(new["median_us_per_token"])


def test_preprocessing_tokens_match_the_processor(out_dir):
    stdout, data = run("preprocessing.py", out_dir, "preprocessing", "--families", "reason1", "reason2",
                       "--sizes", "320x240", "--frames", "2", "4", "--budgets", "128", "1024", "--repeats", "1")
    assert header(stdout) == ["family", "camera", "frames", "max_visual_tokens", "max_frame_pixels", "frames kept",
                              "to the model", "visual tokens", "path", "prepare_clips ms", "processor ms", "total ms"]
    results = data["results"]
    assert len(results) == 2 * 2 * 2
    for r in results:
        assert r["visual_tokens"] == r["processor_visual_tokens"] > 0
        assert 1 <= r["frames_kept"] <= r["frames_in"] and r["visual_tokens"] <= r["budget"]
        assert positive(r["processor_ms"]) and r["prepare_ms"] >= 0
    tight = [r for r in results if r["budget"] == 128]
    roomy = [r for r in results if r["budget"] == 1024]
    assert sum(r["visual_tokens"] for r in tight) < sum(r["visual_tokens"] for r in roomy)


def test_replay_rate_runs_both_variants_with_and_without_field_checks(out_dir):
    stdout, data = run("replay_rate.py", out_dir, "replay_rate", "--sizes", "64x48", "--seconds", "0.5",
                       "--repeats", "1")
    assert header(stdout) == ["bgr8 frame", "ROS_PYTHON_CHECK_FIELDS", "replay Hz, median (before / after)",
                              "range of runs", "ms per publish, median (before / after)", "delivered (before / after)"]
    cases = data["cases"]
    assert sorted((c["variant"], c["checks"]) for c in cases) == [("after", False), ("after", True),
                                                                  ("before", False), ("before", True)]
    for case in cases:
        assert case["size"] == "64x48" and case["published"] > 1 and positive(case["rate_hz"])
        assert 0 <= case["received"] <= case["published"] and positive(case["publish_ms_median"])
    assert sum(case["received"] for case in cases) > 0  # best effort may drop some; the counter hears the rest


def test_gpu_generation_script_runs_tiny_on_cpu(tmp_path):
    path = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_generation.py"), "--tiny", "--device", "cpu",
                           "--frames", "2", "--new-tokens", "8", "--repeats", "1", "--json", str(path)],
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert header(proc.stdout) == ["quantization", "frames", "visual tok", "prompt tok", "TTFT (s)", "decode tok/s",
                                   "ceiling tok/s", "of ceiling", "peak GiB"]
    (result,) = json.loads(path.read_text())["results"]
    assert result["frames"] == 2 and result["new_tokens"] == 8 and result["visual_tokens"] > 0
    assert positive(result["decode_tokens_per_s"]) and positive(result["time_to_first_token_s"])


def test_run_all_rewrites_only_the_generated_sections(out_dir, tmp_path):
    doc = tmp_path / "benchmarks.md"
    shutil.copy(REPO / "docs" / "benchmarks.md", doc)
    original = doc.read_text()
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "run_all.py"), "--from-json", str(out_dir), "--doc",
                           str(doc)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    text = doc.read_text()
    generated = re.compile(r"<!-- generated:([\w-]+) -->.*?<!-- /generated:\1 -->", re.DOTALL)
    assert generated.sub("", text) == generated.sub("", original)  # prose untouched
    sections = {m.group(1): m.group(0) for m in generated.finditer(text)}
    assert {"machine", "ratio", "ingest-matrix", "goal-overhead", "preprocessing"} <= set(sections)
    if (out_dir / "goal_overhead.json").is_file():
        assert "overhead ÷ decode" in sections["ratio"] and "12.5" in sections["ratio"]
    if (out_dir / "ingest_matrix.json").is_file():
        assert "| cameras | size |" in sections["ingest-matrix"]
