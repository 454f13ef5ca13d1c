"""The README quickstart, run as written: its ```bash blocks in one shell, in order.

Two substitutions keep it fast and offline, and both are visible here: the blocks that choose the model
(real weights, or making a tiny model, 10-15 s on an idle CPU) are replaced by one line pointing at the cached
tiny model, and the scratch directory is the test's (``mktemp -d`` honours TMPDIR). Background processes
(the camera and the reasoner) run in the script's own process group, which the test ends.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from helpers.paths import REPO


def quickstart_blocks() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- quickstart:start -->", 1)[1].split("<!-- quickstart:end -->", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def end_process_group(group: int, grace: float = 10.0) -> None:
    """SIGINT the script's process group (its background jobs too); SIGKILL whatever is left after ``grace`` s."""
    try:
        os.killpg(group, signal.SIGINT)
    except ProcessLookupError:
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(group, signal.SIGKILL)


def test_quickstart_blocks_are_the_documented_steps():
    blocks = quickstart_blocks()
    text = "\n".join(blocks)
    for step in ("./scripts/setup.sh", ". scripts/env.sh", "scene.mp4", "$bin/replay", "$bin/reasoner", "$bin/ask"):
        assert step in text, f"quickstart lost the step {step!r}"
    assert sum(1 for b in blocks if re.search(r"^[^#\n]*\bMODEL=", b, re.M)) == 2  # real weights, tiny model


@pytest.mark.slow  # runs the quickstart's commands as processes
def test_quickstart_prints_a_plan_for_a_video(reason1_model, tmp_path):
    script = []
    for block in quickstart_blocks():
        if re.search(r"^[^#\n]*\bMODEL=", block, re.M):  # the model choice: use the cached tiny model instead
            block = f"MODEL={reason1_model}\n"
        script.append(block)
    env = dict(os.environ, TMPDIR=str(tmp_path), HF_HUB_OFFLINE="1")
    process = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", "\n".join(script)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=100)
    finally:
        end_process_group(process.pid)
    assert process.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"
    plan = stdout[stdout.index("task: put the red cup on the tray"):].splitlines()
    assert plan[1:3] == ["mode: decompose",
                         "verdict: FEASIBLE (confidence 0.90): the cup is within reach and nothing blocks it"]
    assert "  1. pick: pick up the red cup" in plan and "  2. place: place the red cup on the tray" in plan
    assert re.search(r"^frames: front x\d+$", stdout, re.M)
    assert "[ask] thinking" in stderr and "[ask] done in" in stderr
    [video] = tmp_path.glob("tmp.*/scene.mp4")  # written in the scratch directory, not the repository
    assert video.stat().st_size > 10_000
