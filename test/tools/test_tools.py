"""The installed `ask` and `replay` executables, run as subprocesses against a real node over Fast DDS."""
from __future__ import annotations

import json
import signal
import subprocess
import time

import cv2
import numpy as np
import pytest

from helpers.tools import StreamReader, installed, pixels, run_tool

pytestmark = pytest.mark.slow  # the installed tools as processes

PREFIX = "/test_tools"


# ------------------------------------------------------------------------------------------------ ask
@pytest.fixture(scope="module")
def reasoner(rclpy_session, reason1_model):
    """The taught tiny model, camera "front" publishing, camera "silent" configured but never publishing."""
    from helpers.ros_harness import Camera, Harness

    with Harness.started({"model": str(reason1_model), "frames.wait_timeout": 0.3, "generation.max_new_tokens": 64},
                         [Camera("front", f"{PREFIX}/front/image_raw")], node_name="ask_reasoner",
                         silent=("silent",)) as h:
        yield h


SERVER = ["--server", "/ask_reasoner/reason", "--wait-server", "20"]


def test_ask_prints_the_plan_and_streams_progress(reasoner):
    done = run_tool("ask", "bring me the red cup", "--cameras", "front", *SERVER)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:3] == ["task: bring me the red cup", "mode: decompose",
                         "verdict: FEASIBLE (confidence 0.90): the cup is within reach and nothing blocks it"]
    assert "  1. pick: pick up the red cup" in lines and "  2. place: place the red cup on the tray" in lines
    assert "     done when: the cup rests on the tray" in lines
    assert "answer: Pick up the red cup, then place it on the tray." in lines
    assert lines[-2].startswith("frames: front x")
    # stderr: stage lines in order, then the streamed reasoning.
    stages = [line.split(" (")[0] for line in done.stderr.splitlines() if line.startswith("[ask] ")]
    assert stages[0] == "[ask] goal accepted by /ask_reasoner/reason"
    assert stages.index("[ask] encoding") < stages.index("[ask] thinking") < stages.index("[ask] answering")
    assert "The red cup stands upright on the table" in done.stderr


def test_ask_json_holds_every_plan_field(reasoner):
    from cosmos_reason_ros.msg import TaskPlan

    done = run_tool("ask", "can the arm reach the red cup?", "--mode", "feasibility", "--cameras", "front",
                    "--frames", "3", "--history", "2", "--no-reasoning", "--json", "--quiet", *SERVER)
    assert done.returncode == 0, done.stderr
    assert "[ask]" not in done.stderr  # --quiet
    result = json.loads(done.stdout)
    assert (result["status"], result["error_code"], result["error_name"], result["error_msg"]) == (
        "SUCCEEDED", 0, "NONE", "")
    plan = result["plan"]
    assert set(TaskPlan.get_fields_and_field_types()) <= set(plan)
    assert plan["task"] == "can the arm reach the red cup?" and len(plan["goal_id"]) == 32
    assert (plan["mode"], plan["mode_name"], plan["subtasks"], plan["reasoning"]) == (1, "feasibility", [], "")
    assert plan["feasibility"]["verdict"] == 1 and plan["feasibility"]["verdict_name"] == "FEASIBLE"
    assert plan["feasibility"]["confidence"] == 0.9  # float32 printed as the model wrote it
    assert plan["completion_name"] == "UNKNOWN" and plan["raw_answer"].startswith("{")
    [camera] = plan["cameras"]
    assert camera["camera"] == "front" and 1 <= len(camera["stamps"]) <= 3  # --frames reached the node
    for stamp in [*camera["stamps"], plan["header"]["stamp"]]:
        assert stamp["seconds"] == pytest.approx(stamp["sec"] + stamp["nanosec"] * 1e-9, abs=1e-6)
    assert plan["header"]["stamp"] == camera["stamps"][-1]
    assert plan["stats"]["generated_tokens"] > 0 and plan["stats"]["stop_reason"] == "eos"


def test_ask_failure_names_the_error_code(reasoner):
    done = run_tool("ask", "bring me the red cup", "--cameras", "silent", *SERVER)
    assert done.returncode == 1
    assert "[ask] goal aborted: NO_FRAMES: no frames from camera(s) ['silent']" in done.stderr
    assert done.stdout == ""


def test_ask_without_a_server_exits_2(rclpy_session):
    started = time.monotonic()
    done = run_tool("ask", "anything", "--server", "/nobody_here/reason", "--wait-server", "0.5")
    assert done.returncode == 2
    assert "no action server at /nobody_here/reason after 0.5 s" in done.stderr
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("args, message", [(["--mode", "dance"], "invalid choice: 'dance'"),
                                           (["--frames", "-1"], "-1 must be >= 0 and <= 65535")])
def test_ask_usage_error_exits_64(args, message, capsys):
    from cosmos_reason_ros.tools.ask import main

    with pytest.raises(SystemExit) as exit_info:
        main(["task", *args])
    assert exit_info.value.code == 64
    assert message in capsys.readouterr().err


def test_ctrl_c_cancels_the_goal_and_exits_130(make_harness, random_model):
    """Random weights generate until the 4000-token budget: plenty of time to press Ctrl-C mid-thought."""
    from helpers.ros_harness import Camera

    h = make_harness({"model": str(random_model), "generation.max_new_tokens": 4000, "generation.temperature": 0.0},
                     [Camera("front", f"{PREFIX}/random/image_raw")], node_name="ask_random")
    process = subprocess.Popen([str(installed("ask")), "describe everything", "--server", "/ask_random/reason",
                                "--wait-server", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr = StreamReader(process.stderr)
    try:
        h.wait_for(lambda: "[ask] thinking" in stderr.text or process.poll() is not None, 30, "generation")
        assert process.poll() is None, stderr.text
        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert returncode == 130, stderr.join()
    assert "[ask] interrupted: canceling the goal" in stderr.join()
    assert "[ask] goal canceled: CANCELED" in stderr.text
    h.wait_for(lambda: h.node.parts.goals.stats.failed_by_code.get("CANCELED") == 1, 5,
               "the node to count the cancel")
    assert h.node.parts.slots.running == 0


# --------------------------------------------------------------------------------------------- replay
def test_replay_video_once_at_its_own_fps(recorder, tmp_path):
    fps, count = 20, 24
    frames = [np.full((120, 160, 3), (10 * i, 100, 250 - 10 * i), np.uint8) for i in range(count)]
    writer = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 120))
    for frame in frames:
        writer.write(frame)
    writer.release()
    r = recorder(f"{PREFIX}/video/image_raw")
    done = run_tool("replay", str(tmp_path / "clip.mp4"), "--topic", f"{PREFIX}/video/image_raw", "--once",
                    "--frame-id", "front_optical_frame", "--report", "0.5")
    assert done.returncode == 0, done.stderr
    assert f"[replay] {count} frames on {PREFIX}/video/image_raw" in done.stderr
    assert "Hz, 160x120" in done.stderr  # the periodic summary line
    received = [round(int(pixels(m)[0, 0, 0]) / 10) for m in r.messages]  # frame i is blue 10 * i
    assert received == list(range(count)), done.stderr
    first = r.messages[0]
    assert (first.width, first.height, first.encoding, first.step) == (160, 120, "bgr8", 480)
    assert first.header.frame_id == "front_optical_frame"
    assert np.abs(pixels(first).astype(int) - frames[0]).mean() < 8  # mp4 is lossy, the colour survives
    assert np.abs(pixels(r.messages[-1]).astype(int) - frames[-1]).mean() < 8
    stamps = r.stamps()
    assert stamps == sorted(stamps) and len(set(stamps)) == count
    stamp_rate = (count - 1) / ((stamps[-1] - stamps[0]) * 1e-9)
    arrival_rate = (count - 1) / (r.arrivals[-1] - r.arrivals[0])
    assert stamp_rate == pytest.approx(fps, rel=0.2) and arrival_rate == pytest.approx(fps, rel=0.25)
    assert abs(stamps[-1] * 1e-9 - time.time()) < 30  # stamped now, by the node clock


def test_replay_image_folder_in_name_order(recorder, tmp_path):
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]
    for name, colour in zip(("b_02.png", "a_01.png", "c_03.png"), (colours[1], colours[0], colours[2]), strict=False):
        cv2.imwrite(str(tmp_path / name), np.full((48, 64, 3), colour, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    r = recorder(f"{PREFIX}/folder/image_raw")
    done = run_tool("replay", str(tmp_path), "--topic", f"{PREFIX}/folder/image_raw", "--rate", "30", "--once")
    assert done.returncode == 0, done.stderr
    assert [tuple(int(v) for v in pixels(m)[0, 0]) for m in r.messages] == colours  # png: exact pixels
    assert all((m.width, m.height) == (64, 48) for m in r.messages)


def test_replay_single_image_compressed_loops_until_ctrl_c(recorder, tmp_path):
    cv2.imwrite(str(tmp_path / "still.png"), np.full((100, 200, 3), (30, 60, 200), np.uint8))
    r = recorder(f"{PREFIX}/still/image_raw/compressed", compressed=True)
    process = subprocess.Popen([str(installed("replay")), str(tmp_path / "still.png"), "--topic",
                                f"{PREFIX}/still/image_raw", "--compressed", "--resize", "80x40", "--rate", "20"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        from helpers.ros_harness import Harness

        Harness.wait_for(lambda: len(r.messages) >= 6 or process.poll() is not None, 20, "six frames")
        assert process.poll() is None, process.stderr.read()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    message = r.messages[0]
    assert message.format == "bgr8; jpeg compressed bgr8"
    decoded = cv2.imdecode(np.frombuffer(bytes(message.data), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (40, 80, 3)
    assert np.abs(decoded.astype(int) - (30, 60, 200)).max() < 10
    stamps = r.stamps()
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_replay_unreadable_source_exits_1(tmp_path):
    done = run_tool("replay", str(tmp_path / "missing.mp4"))
    assert done.returncode == 1 and "no such file or folder" in done.stderr


def test_ask_progress_holds_feedback_that_overtakes_the_goal_response():
    """Feedback may arrive before the goal response: the stage lines still follow "goal accepted"."""
    import io
    from types import SimpleNamespace

    from cosmos_reason_ros.tools.ask import Progress

    out = io.StringIO()
    progress = Progress(out)
    progress.feedback(SimpleNamespace(stage=2, elapsed=0.0, tokens_generated=0, new_text=""))
    assert out.getvalue() == ""  # held: nothing is printed before acceptance
    progress.accepted("/r/reason")
    progress.feedback(SimpleNamespace(stage=4, elapsed=0.1, tokens_generated=1, new_text="thinking"))
    lines = out.getvalue().splitlines()
    assert lines[0] == "[ask] goal accepted by /r/reason"
    assert lines[1].startswith("[ask] waiting for frames") and lines[2].startswith("[ask] thinking")
    assert lines[3] == "thinking"
