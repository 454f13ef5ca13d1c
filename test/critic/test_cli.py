"""The `critic` batch tool end to end: real videos, image folders and rosbag2 recordings written here,
judged by a tiny model taught a critic answer; resume after a kill and after Ctrl-C; broken inputs; the
Ray engine on a local Ray instance giving the same records as the local engine; no ROS imported.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.critic_fixtures import write_bag, write_images, write_video
from helpers.paths import REPO

pytestmark = pytest.mark.slow  # the critic tool as processes, Ray, a model server

CRITIC = [sys.executable, "-m", "cosmos_reason_ros.critic.cli"]


@pytest.fixture(scope="module")
def critic_model() -> Path:
    from conftest import build_tiny_model

    return build_tiny_model("reason1", True, "critic_plausible")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Good inputs of every kind, and broken ones."""
    root = tmp_path_factory.mktemp("critic_inputs")
    videos = root / "videos"
    (videos / "nested").mkdir(parents=True)
    good = {
        "mp4": write_video(videos / "push.mp4", frames=30),
        "avi": write_video(videos / "nested" / "grasp.avi", frames=20, fourcc="MJPG"),
        "images": write_images(root / "image_seq", count=8),
        "sqlite3": write_bag(root / "bag_sqlite", "sqlite3", count=12),
        "mcap": write_bag(root / "bag_mcap", "mcap", compressed=True, count=12),
    }
    broken = root / "broken"
    broken.mkdir()
    (broken / "zero.mp4").write_bytes(b"")
    (broken / "garbage.mp4").write_bytes(b"this is not a video" * 64)
    truncated = write_video(root / "whole.mp4", frames=40).read_bytes()
    (broken / "truncated.mp4").write_bytes(truncated[: len(truncated) // 2])
    bad = {
        "zero": broken / "zero.mp4", "garbage": broken / "garbage.mp4", "truncated": broken / "truncated.mp4",
        # Every frame after the first is corrupt, so whichever frames the sampling picks, one is.
        "corrupt_image": write_images(root / "corrupt_seq", count=6, corrupt=tuple(range(1, 6))),
        "corrupt_jpeg_bag": write_bag(root / "corrupt_bag", "mcap", compressed=True, count=8,
                                      corrupt=tuple(range(1, 8))),
        "other_topic_bag": write_bag(root / "other_bag", "sqlite3", topic="/other/image", count=4),
        "missing": root / "does_not_exist.mp4",
        "empty_dir": root / "empty_dir",
    }
    bad["empty_dir"].mkdir()
    return {**good, **bad, "videos": videos, "root": root}


def run_critic(args: list, report: Path, model: Path, *extra: str, check: bool = False,
               timeout: float = 600) -> subprocess.CompletedProcess:
    command = [*CRITIC, *map(str, args), "--model", str(model), "--device", "cpu", "--report", str(report),
               "--no-progress", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def records(report: Path) -> list[dict]:
    return [json.loads(line) for line in report.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------ the tool


def test_help_documents_the_exit_codes() -> None:
    done = subprocess.run([*CRITIC, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
        assert f"\n  {code}" in done.stdout, code
    assert "--engine" in done.stdout and "--ray-address" in done.stdout and "--topic" in done.stdout


def test_every_input_kind_end_to_end(inputs, critic_model, tmp_path) -> None:
    report = tmp_path / "report.jsonl"
    accepted = tmp_path / "accepted"
    sources = [inputs["videos"], inputs["images"], inputs["sqlite3"], next(inputs["mcap"].glob("*.mcap"))]
    done = run_critic(sources, report, critic_model, "--topic", "/camera/image_raw", "--window", "1.5",
                      "--runs", "2", "--accepted-dir", str(accepted), check=True)
    found = records(report)
    by_source: dict[str, list] = {}
    for record in found:
        by_source.setdefault(Path(record["source"]).name, []).append(record)
    # push.mp4: 3 s → 2 windows; grasp.avi: 2 s → 1 window + 0.5 s (dropped: under half a window);
    # image_seq: 8 frames at 4 Hz = 2 s → 1; each bag: 12 frames at 4 Hz = 2.75 s → 1 window + 1.25 s.
    assert {name: len(items) for name, items in by_source.items()} == {
        "push.mp4": 2, "grasp.avi": 1, "image_seq": 1, "bag_sqlite": 2, "bag_mcap": 2}
    for record in found:
        assert record["error"] is None, record
        assert record["verdict"] == "plausible" and record["accepted"] is True
        assert record["score"] == 1.0 and record["scale"] == "agreement" and record["confidence"] == 1.0
        assert [run["verdict"] for run in record["runs"]] == ["plausible", "plausible"]
        assert [(f["name"], f["anomaly"]) for f in record["findings"]] == [("red cup", False), ("arm", False)]
        assert record["model"] == str(critic_model) and record["family"] == "reason1"
        assert record["frames"] >= 2 and record["timings"]["total_s"] >= record["timings"]["model_s"] > 0
        assert len(record["key"]) == 24
    assert {r["topic"] for r in by_source["bag_mcap"]} == {"/camera/image_raw"}
    assert by_source["push.mp4"][1]["window"] == [1.5, 3.0]
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert len(rows) == len(found) and {row["verdict"] for row in rows} == {"plausible"}
    assert "clips 8: judged 8 (plausible 8, implausible 0), errors 0" in done.stdout
    assert "score histogram (agreement)" in done.stdout
    assert len(list(accepted.iterdir())) == 8  # every window written as its own MP4
    assert all(path.suffix == ".mp4" and path.stat().st_size > 0 for path in accepted.iterdir())


def test_broken_inputs_give_named_errors_and_the_run_goes_on(inputs, critic_model, tmp_path) -> None:
    report = tmp_path / "report.jsonl"
    names = ("zero", "garbage", "truncated", "corrupt_image", "corrupt_jpeg_bag", "other_topic_bag", "missing",
             "empty_dir", "mp4")
    done = run_critic([inputs[n] for n in names], report, critic_model, "--topic", "/camera/image_raw")
    assert done.returncode == 1, done.stderr[-2000:]
    found = {Path(r["source"]).name: r for r in records(report)}
    codes = {name: (record["error"] or {}).get("code") for name, record in found.items()}
    assert codes == {"zero.mp4": "EMPTY_INPUT", "garbage.mp4": "UNREADABLE_INPUT",
                     "truncated.mp4": codes["truncated.mp4"],
                     "corrupt_seq": "CORRUPT_FRAME", "corrupt_bag": "CORRUPT_FRAME", "other_bag": "NO_TOPIC",
                     "does_not_exist.mp4": "NOT_FOUND", "empty_dir": "EMPTY_INPUT", "push.mp4": None}
    assert codes["truncated.mp4"] in ("UNREADABLE_INPUT", "CORRUPT_FRAME", "EMPTY_INPUT")
    assert "/other/image" in found["other_bag"]["error"]["message"]  # says which image topics there are
    assert found["push.mp4"]["verdict"] == "plausible"  # judged after all the broken ones
    assert "errors 8" in done.stdout and "NO_TOPIC 1" in done.stdout
    rerun = run_critic([inputs[n] for n in names], report, critic_model, "--topic", "/camera/image_raw")
    assert rerun.returncode == 1 and len(records(report)) == len(found)  # nothing judged twice


def test_a_recording_without_topic_argument_names_its_image_topics(inputs, critic_model, tmp_path) -> None:
    report = tmp_path / "report.jsonl"
    done = run_critic([inputs["sqlite3"]], report, critic_model)
    assert done.returncode == 1
    (record,) = records(report)
    assert record["error"]["code"] == "NO_TOPIC" and "/camera/image_raw" in record["error"]["message"]


def test_resume_after_a_kill_judges_only_what_is_missing(inputs, critic_model, tmp_path) -> None:
    report = tmp_path / "report.jsonl"
    video = write_video(tmp_path / "long.mp4", frames=120, fps=10.0)  # 12 s → 24 windows of 0.5 s
    command = [*CRITIC, str(video), "--window", "0.5", "--model", str(critic_model), "--device", "cpu",
               "--report", str(report), "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (report.exists() and report.read_text().count("\n") >= 3):
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no records appeared"
            time.sleep(0.05)
        process.kill()  # SIGKILL: no handler runs, whatever was being written stays as it was
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    before = report.read_text()
    kept = [json.loads(line) for line in before.splitlines()[: before.count("\n")]]
    assert 3 <= len(kept) < 24
    with report.open("a") as handle:  # a torn last line, as a kill in the middle of a write leaves
        handle.write('{"version": 1, "key": "torn')
    done = run_critic([video], report, critic_model, "--window", "0.5", check=True)
    assert "ignored 1 incomplete line" in done.stderr
    final = records(report)
    assert len(final) == 24 and len({r["key"] for r in final}) == 24
    assert final[: len(kept)] == kept  # the records already there were not redone
    assert f"({len(kept)} clip(s) already there were skipped)" in done.stdout


def test_ctrl_c_leaves_a_valid_report_and_exit_code_130(critic_model, tmp_path) -> None:
    report = tmp_path / "report.jsonl"
    video = write_video(tmp_path / "long.mp4", frames=120, fps=10.0)
    command = [*CRITIC, str(video), "--window", "0.5", "--model", str(critic_model), "--device", "cpu",
               "--report", str(report), "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (report.exists() and report.read_text().count("\n") >= 2):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert "interrupted" in err and "rerun to resume" in err
    text = report.read_text()
    assert text.endswith("\n")
    judged = [json.loads(line) for line in text.splitlines()]
    assert judged and all(r["error"] is None for r in judged)  # the clip in flight is not recorded as failed
    run_critic([video], report, critic_model, "--window", "0.5", check=True)
    assert len(records(report)) == 24


def test_the_tool_imports_nothing_of_ros(inputs, critic_model, tmp_path) -> None:
    report = tmp_path / "report.jsonl"
    script = (
        "import sys\n"
        "for name in ('rclpy', 'rosidl_runtime_py', 'cosmos_reason_ros.msg', 'cosmos_reason_ros.action'):\n"
        "    sys.modules[name] = None  # importing any of these now fails\n"
        "from cosmos_reason_ros.critic.cli import main\n"
        f"code = main([{str(inputs['mp4'])!r}, {str(inputs['sqlite3'])!r}, '--topic', '/camera/image_raw', '--model', "
        f"{str(critic_model)!r}, '--device', 'cpu', '--report', {str(report)!r}, '--no-progress', '-q'])\n"
        "loaded = sorted(n for n, m in sys.modules.items() if m is not None and n.split('.')[0] in "
        "('rclpy', 'rosidl_runtime_py', 'rosidl_parser', 'rpyutils', 'launch'))\n"
        "assert not loaded, loaded\n"
        "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [r["verdict"] for r in records(report)] == ["plausible"] * 2


def test_accept_threshold_and_link(inputs, critic_model, tmp_path) -> None:
    report, accepted = tmp_path / "report.jsonl", tmp_path / "kept"
    done = run_critic([inputs["mp4"]], report, critic_model, "--accept", "1.5", "--accepted-dir", str(accepted),
                      "--link", check=True)
    assert "accepted (score >= 1.5) 0, rejected 1" in done.stdout
    assert not accepted.exists() or not list(accepted.iterdir())
    done = run_critic([inputs["mp4"]], tmp_path / "again.jsonl", critic_model, "--accept", "1",
                      "--accepted-dir", str(accepted), "--link", check=True)
    (linked,) = accepted.iterdir()
    assert linked.is_symlink() and linked.resolve() == inputs["mp4"].resolve()


# ------------------------------------------------------------------------------------------------ Ray


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="the Ray engine needs ray[data] (requirements-test.txt)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_engine_gives_the_same_records_as_the_local_engine(inputs, critic_model, tmp_path, local_ray) -> None:
    from cosmos_reason_ros.critic.cli import main

    sources = [str(inputs["mp4"]), str(inputs["images"]), str(inputs["mcap"]), str(inputs["zero"]),
               str(inputs["corrupt_image"])]
    common = [*sources, "--topic", "/camera/image_raw", "--window", "1", "--model", str(critic_model), "--device",
              "cpu", "--no-progress", "-q", "--temperature", "0"]
    assert main([*common, "--report", str(tmp_path / "local.jsonl")]) == 1  # two broken inputs
    assert main([*common, "--report", str(tmp_path / "ray.jsonl"), "--engine", "ray", "--workers", "2",
                 "--cpus-per-worker", "0.5"]) == 1
    fields = ("source", "window", "topic", "frames", "verdict", "score", "scale", "confidence", "runs", "findings",
              "explanation", "model", "error")

    def comparable(path: Path) -> dict[str, dict]:
        return {r["key"]: {f: r[f] for f in fields} for r in records(path)}

    local, on_ray = comparable(tmp_path / "local.jsonl"), comparable(tmp_path / "ray.jsonl")
    assert local == on_ray
    # push.mp4 3 windows, image_seq 2, bag_mcap 3 (2.75 s), zero.mp4 1, corrupt_seq 2 (1.5 s)
    assert len(local) == 11 and sum(1 for r in local.values() if r["error"]) == 3
    workers = {r.get("worker") for r in records(tmp_path / "ray.jsonl") if not r["error"] or r["frames"]}
    assert all(w and w.startswith("ray:") for w in workers)


def test_lone_mcap_file_without_metadata(inputs, critic_model, tmp_path) -> None:
    lone = tmp_path / "lone.mcap"
    shutil.copy(next(inputs["mcap"].glob("*.mcap")), lone)
    report = tmp_path / "report.jsonl"
    done = run_critic([lone], report, critic_model, "--topic", "/camera/image_raw")
    found = records(report)
    assert len(found) == 1 and done.returncode in (0, 1)
    if found[0]["error"]:  # rosbags versions differ in opening bare MCAP files: then the error is named
        assert found[0]["error"]["code"] == "UNREADABLE_INPUT", found[0]
    else:
        assert found[0]["verdict"] == "plausible"
    assert os.path.basename(found[0]["source"]) == "lone.mcap"


# ------------------------------------------------------------------------------------------------ a server


@pytest.fixture(scope="module")
def critic_server(tmp_path_factory, critic_model):
    from helpers import serve_fixtures

    server = serve_fixtures.ServeProcess(critic_model, tmp_path_factory.mktemp("critic_serve")).start()
    try:
        server.wait_ready()
    except serve_fixtures.ServeUnavailable as e:
        pytest.skip(f"transformers serve cannot start here: {e}")
    yield server
    server.stop()


def test_openai_backend_with_requests_in_flight(inputs, critic_model, critic_server, tmp_path) -> None:
    report = tmp_path / "report.jsonl"
    done = run_critic([inputs["videos"]], report, critic_model, "--backend", "openai", "--base-url",
                      critic_server.url, "--model-family", "reason1", "--jobs", "3", "--window", "1",
                      "--temperature", "0", check=True)
    found = records(report)
    assert len(found) == 5  # push.mp4: 3 windows, grasp.avi: 2
    for record in found:
        assert record["error"] is None and record["verdict"] == "plausible", record
        assert [(f["name"], f["anomaly"]) for f in record["findings"]] == [("red cup", False), ("arm", False)]
    assert "judged 5" in done.stdout


def test_openai_runs_are_filled_in_when_the_server_ignores_n(inputs, critic_model, critic_server, tmp_path) -> None:
    report = tmp_path / "report.jsonl"
    done = run_critic([inputs["mp4"]], report, critic_model, "--backend", "openai", "--base-url", critic_server.url,
                      "--model-family", "reason1", "--runs", "3", "--seed", "5", check=True)
    (record,) = records(report)
    # transformers serve streams one choice whatever n is: the other two runs are asked for one by one.
    assert [run["verdict"] for run in record["runs"]] == ["plausible"] * 3, record
    assert record["confidence"] == 1.0 and not any("gave no verdict" in w for w in record["warnings"])
    assert "ignores n" in done.stderr


def test_throughput_benchmark_runs_and_reports_both_engines(tmp_path) -> None:
    pytest.importorskip("ray", reason="the benchmark compares with the Ray engine")
    out = tmp_path / "bench.json"
    script = REPO / "benchmarks" / "critic_throughput.py"
    done = subprocess.run([sys.executable, str(script), "--videos", "2", "--json", str(out)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert [r["engine"] for r in figures["results"]] == ["local", "ray"]
    assert all(r["clips"] == figures["clips"] == 4 and r["verdicts"] == ["plausible"] for r in figures["results"])
    assert all(r["wall_s"] > 0 and r["outside_model_ms_mean"] > 0 for r in figures["results"])
    assert "| local |" in done.stdout and "| ray |" in done.stdout and "ray (2 workers) / local" in done.stdout


@pytest.mark.parametrize("family", ["cosmos3", "cosmos3_edge"])
def test_cosmos3_critic_with_the_model_family_option(inputs, tmp_path, family) -> None:
    """The batch critic with a Cosmos 3 reasoner (taught the choice form's "B": impossible), the family named
    on the command line: every window judged implausible, on the agreement scale."""
    from conftest import build_tiny_model

    model = build_tiny_model(family, teach=True, scenario="critic_artifact")
    report = tmp_path / "report.jsonl"
    done = run_critic([inputs["mp4"]], report, model, "--model-family", family, "--window", "1.5", check=True)
    found = records(report)
    assert found and all(r["error"] is None for r in found), done.stderr[-2000:]
    assert {(r["family"], r["verdict"], r["scale"], r["score"]) for r in found} == {
        (family, "implausible", "agreement", 0.0)}
