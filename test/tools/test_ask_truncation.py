"""`ask` on a truncated answer: a non-zero exit code (4) and the reason, never exit 0 with no verdict."""
from __future__ import annotations

import json

import pytest

from helpers.tools import run_tool

pytestmark = pytest.mark.slow  # the installed ask tool as a process

PREFIX = "/test_ask_cut"
SERVER = ["--server", "/ask_cut_reasoner/reason", "--wait-server", "20", "--cameras", "front"]


@pytest.fixture(scope="module")
def reasoner(rclpy_session, reason1_model):
    """The taught tiny Reason1 model: one piece of its answer per token, so a budget cuts at a known place."""
    from helpers.ros_harness import Camera, Harness

    with Harness.started({"model": str(reason1_model), "generation.max_new_tokens": 64, "generation.temperature": 0.0},
                         [Camera("front", f"{PREFIX}/front/image_raw")], node_name="ask_cut_reasoner") as h:
        yield h


def test_ask_exits_4_when_the_budget_ends_in_the_reasoning(reasoner):
    done = run_tool("ask", "bring me the red cup", "--max-tokens", "3", "--quiet", *SERVER)
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert "PARSE_FAILED" in done.stderr and "truncated after 3 tokens" in done.stderr
    assert "raise --max-tokens" in done.stderr
    assert done.stdout == ""  # no plan to show


def test_ask_exits_4_and_shows_the_partial_plan_when_cut_inside_the_answer(reasoner):
    from cosmos_reason_ros.testing.tiny_model import taught_pieces

    budget = taught_pieces("reason1").index("<answer>\n") + 2  # the answer's first member ("subtasks") only
    done = run_tool("ask", "bring me the red cup", "--max-tokens", str(budget), "--quiet", *SERVER)
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert f"truncated after {budget} tokens" in done.stderr and "a partial plan" in done.stderr
    assert "completeness: PARTIAL" in done.stdout and "  2. place: place the red cup on the tray" in done.stdout
    as_json = run_tool("ask", "bring me the red cup", "--max-tokens", str(budget), "--quiet", "--json", *SERVER)
    assert as_json.returncode == 4
    result = json.loads(as_json.stdout)
    assert result["error_name"] == "PARSE_FAILED" and result["plan"]["completeness_name"] == "PARTIAL"
    assert result["plan"]["feasibility"]["verdict_name"] == "UNKNOWN"


def test_ask_exits_0_on_a_complete_answer(reasoner):
    done = run_tool("ask", "bring me the red cup", "--quiet", *SERVER)
    assert done.returncode == 0, done.stderr
    assert "completeness" not in done.stdout and "verdict: FEASIBLE" in done.stdout


def test_ask_help_documents_the_exit_codes():
    from cosmos_reason_ros.tools.ask import build_parser

    text = build_parser().format_help()
    for line in ("0    the node returned a complete plan", "1    the goal ended with an error code",
                 "4    the answer was cut off (token budget)", "64   bad command line"):
        assert line in text
