"""benchmarks/memory_soak.py runs end to end with tiny settings (the installed node as a process, cameras in
another, goals from the script) and reports RSS per minute; the figures themselves are never asserted."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.paths import REPO

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["soak", "storm"])
def test_memory_soak_reports_rss_per_minute(tmp_path, reason1_model, mode):
    out = tmp_path / f"{mode}.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "memory_soak.py"), "--mode", mode, "--minutes", "0.25",
         "--sample", "2", "--goal-period", "2", "--burst", "3", "--size", "320x240", "--rate", "10",
         "--max-new-tokens", "64", "--model", str(reason1_model), "--json", str(out)],
        capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "| minute | RSS (MB) | goals finished | vs minute 2 (MB) |" in proc.stdout
    data = json.loads(out.read_text())
    assert data["mode"] == mode and len(data["samples"]) >= 5
    assert all(rss > 100 for _, rss, _ in data["samples"])  # the node's RSS, sampled from /proc
    assert data["outcomes"].get("ok", 0) >= 1, data["outcomes"]
    assert data["samples"][-1][2] >= 1
