"""`ask --skills FILE --history-file FILE` and `--criterion`: the installed tool against a real node over DDS with
the tiny model taught a plan in skills; bad files are usage errors before any goal is sent."""
from __future__ import annotations

import pytest

from helpers.paths import REPO
from helpers.tools import run_tool

pytestmark = pytest.mark.slow  # the installed tool as a process

SERVER = ["--server", "/ask_skills/reason", "--wait-server", "20"]
DONE = """\
- skill: pick
  arguments: {object: red cup, grip: gentle}
  description: pick up the red cup
  outcome: failed
  reason: the cup slipped from the gripper
"""


@pytest.fixture(scope="module")
def reasoner(rclpy_session, skills_model):
    from helpers.ros_harness import Camera, Harness

    with Harness.started({"model": str(skills_model), "generation.max_new_tokens": 64},
                         [Camera("front", "/test_ask_skills/front/image_raw")], node_name="ask_skills") as h:
        yield h


def test_ask_with_skills_and_history_prints_the_plan_in_skills(reasoner, tmp_path):
    done_file = tmp_path / "done.yaml"
    done_file.write_text(DONE)
    done = run_tool("ask", "put the red cup on the tray", "--skills", str(REPO / "examples" / "skills.yaml"),
                    "--history-file", str(done_file), "--no-reasoning", *SERVER)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "  1. pick(object=red cup, grip=firm): grip the red cup firmly and lift it" in out
    assert "  2. place(object=red cup, location=tray, height=0.05 m): set the red cup down on the tray" in out
    assert "dispatch: READY" in out and "completed: no" in out
    assert "warning: subtask 0: skill 'grab' read as 'pick' (a declared synonym)" in out


def test_ask_verifies_one_step(reasoner):
    done = run_tool("ask", "put the red cup on the tray", "--mode", "verify", "--criterion",
                    "the cup is lifted off the table", "--json", *SERVER)
    assert done.returncode == 0, done.stderr
    assert '"completion": 1' in done.stdout


@pytest.mark.parametrize("option, text, message", [
    ("--skills", "skills:\n  names: [pick]\n  pick: {arguments: ['weight: number kg heavy']}\n", "argument"),
    ("--history-file", "- {skill: pick, outcome: maybe}\n", "outcome succeeded or failed"),
    ("--skills", "skills: [", "cannot read"),
])
def test_a_bad_file_is_a_usage_error(tmp_path, option, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    done = run_tool("ask", "put the cup on the tray", option, str(path), "--server", "/nobody/reason",
                    "--wait-server", "0.2")
    assert done.returncode == 64 and message in done.stderr, done.stderr
