"""The camera-robustness benchmarks run end to end with tiny settings and report what they claim: the
malformed-camera memory run (goals answered with the frames asked for, per-kind counters) and the thinning
figures. Speed and memory themselves are never asserted."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.paths import REPO

BENCHMARKS = REPO / "benchmarks"

pytestmark = pytest.mark.slow


def test_malformed_camera_memory_benchmark(tmp_path):
    out = tmp_path / "battery.json"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "camera_battery.py"), "--seconds", "10", "--size",
                           "320x240", "--json", str(out)], capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-4000:]
    data = json.loads(out.read_text())
    assert data["goals"].get("succeeded", 0) >= 1, data["goals"]
    assert set(data["goals"]) <= {"succeeded"}, data["goals"]  # no error, no short clip, no malformed frame used
    assert len(data["rss_mb_by_10s"]) == 1 and data["rss_mb_peak"] > data["rss_mb_before"] > 0
    raw, jpeg = data["cameras"]["raw"], data["cameras"]["jpeg"]
    assert raw["malformed"] == sum(raw["by_kind"].values()) > 0 and len(raw["by_kind"]) == 8
    assert len(jpeg["by_kind"]) == 4 and jpeg["stored"] > 0
    assert raw["stamp_outliers"] > 0 and raw["time_jumps"] == 0
    assert "| before |" in proc.stdout and "malformed by kind" in proc.stdout


def test_thinning_benchmark_reports_the_store_rate():
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "thinning.py"), "--rates", "10", "30", "--jitter", "0.1",
                           "--seconds", "20", "--seeds", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if line.startswith(("| 10", "| 30"))]
    assert [float(r[4]) for r in rows] == pytest.approx([10.0, 10.0], abs=0.2)  # both cameras stored at 10 Hz


def test_ingest_compare_prints_two_runs_side_by_side(tmp_path):
    result = {"cameras": 1, "size": "640x480", "encoding": "jpeg", "goal": False, "setup": "node", "delivered": 1.0,
              "callback_ms_p50": 0.1, "callback_ms_p99": 0.2, "cpu_share": 0.03, "cpu_ms_per_frame": 1.0}
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps({"results": [result]}))
    after.write_text(json.dumps({"results": [{**result, "callback_ms_p50": 0.12}]}))
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "ingest.py"), "--compare", str(before), str(after)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "| 1 | 640x480 | jpeg | no | 100.0% → 100.0% | 0.100 → 0.120 |" in proc.stdout
