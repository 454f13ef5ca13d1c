"""`replay` of rosbag2 recordings: bags written here with the `rosbags` library in both storage formats
(sqlite3 and MCAP), played by the installed executable to subscribers and to the real node over Fast DDS."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from action_msgs.msg import GoalStatus

from helpers.tools import installed, pixels, run_tool

pytestmark = pytest.mark.slow  # the installed replay tool as a process

rosbags = pytest.importorskip("rosbags", reason="the rosbags package is not installed (requirements.txt)")

PREFIX = "/test_bags"
RECORDED_AT = 1_600_000_000  # s; stamps of the recording, long ago
FRAMES = 10
RATE = 10.0  # Hz, recorded pace


def frame(i: int) -> np.ndarray:
    return np.full((48, 64, 3), (20 * i, 100, 200 - 15 * i), np.uint8)


def write_bag(path: Path, storage: str) -> Path:
    """A recording with a raw camera, a JPEG camera and a non-image topic, written with rosbags."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    T = store.types
    Header, Time = T["std_msgs/msg/Header"], T["builtin_interfaces/msg/Time"]
    Image, CompressedImage, String = (T["sensor_msgs/msg/Image"], T["sensor_msgs/msg/CompressedImage"],
                                      T["std_msgs/msg/String"])
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        raw = writer.add_connection("/rec/front/image_raw", Image.__msgtype__, typestore=store)
        jpeg = writer.add_connection("/rec/wrist/image_raw/compressed", CompressedImage.__msgtype__, typestore=store)
        text = writer.add_connection("/rec/notes", String.__msgtype__, typestore=store)
        for i in range(FRAMES):
            ns = RECORDED_AT * 1_000_000_000 + int(i * 1e9 / RATE)
            header = Header(stamp=Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id="rec_front")
            pixels_i = frame(i)
            image = Image(header=header, height=48, width=64, encoding="rgb8", is_bigendian=0, step=64 * 3,
                          data=pixels_i.reshape(-1))
            writer.write(raw, ns, store.serialize_cdr(image, Image.__msgtype__))
            ok, encoded = cv2.imencode(".jpg", pixels_i)
            assert ok
            compressed = CompressedImage(header=Header(stamp=header.stamp, frame_id="rec_wrist"), format="jpeg",
                                         data=encoded.reshape(-1))
            writer.write(jpeg, ns + 1000, store.serialize_cdr(compressed, CompressedImage.__msgtype__))
            writer.write(text, ns + 2000, store.serialize_cdr(String(data=f"note {i}"), String.__msgtype__))
    return path


def stamp_ns(message) -> int:
    return message.header.stamp.sec * 1_000_000_000 + message.header.stamp.nanosec


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_bag_plays_its_image_topics_at_the_recorded_pace_stamped_now(recorder, tmp_path, storage):  # noqa: F811
    bag = write_bag(tmp_path / f"bag_{storage}", storage)
    front_topic, wrist_topic = f"{PREFIX}/{storage}/front/image_raw", f"{PREFIX}/{storage}/wrist/image_raw/compressed"
    front, wrist = recorder(front_topic), recorder(wrist_topic, compressed=True)
    done = run_tool("replay", str(bag), "--once", "--map", f"/rec/front/image_raw={front_topic}",
                    "--map", f"/rec/wrist/image_raw/compressed={wrist_topic}")
    assert done.returncode == 0, done.stderr
    assert f"{2 * FRAMES} images on" in done.stderr and "stamped now" in done.stderr
    assert [int(pixels(m)[0, 0, 0]) for m in front.messages] == [20 * i for i in range(FRAMES)]  # exact, in order
    assert all(m.encoding == "rgb8" and m.header.frame_id == "rec_front" for m in front.messages)
    assert len(wrist.messages) == FRAMES and wrist.messages[0].format == "jpeg"
    decoded = cv2.imdecode(np.frombuffer(bytes(wrist.messages[-1].data), np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(decoded.astype(int) - frame(FRAMES - 1)).mean() < 8
    stamps = [stamp_ns(m) for m in front.messages]
    assert stamps == sorted(stamps) and abs(stamps[-1] * 1e-9 - time.time()) < 30  # now, not 2020
    pace = (front.arrivals[-1] - front.arrivals[0]) / (FRAMES - 1)
    assert pace == pytest.approx(1 / RATE, rel=0.5)


def test_original_stamps_on_request_and_speed(recorder, tmp_path):  # noqa: F811
    bag = write_bag(tmp_path / "bag", "mcap")
    topic = f"{PREFIX}/original/front/image_raw"
    front = recorder(topic)
    started = time.monotonic()
    done = run_tool("replay", str(bag), "--once", "--original-stamps", "--speed", "4", "--bag-topic",
                    "/rec/front/image_raw", "--map", f"/rec/front/image_raw={topic}", "--frame-id", "cam")
    assert done.returncode == 0, done.stderr
    assert f"{FRAMES} images on" in done.stderr and "original stamps" in done.stderr
    assert [stamp_ns(m) for m in front.messages] == [RECORDED_AT * 1_000_000_000 + int(i * 1e9 / RATE)
                                                     for i in range(FRAMES)]
    assert {m.header.frame_id for m in front.messages} == {"cam"}
    assert (front.arrivals[-1] - front.arrivals[0]) < (FRAMES - 1) / RATE  # four times the recorded pace
    assert time.monotonic() - started < 60


def test_bag_without_the_topic_names_what_it_has(tmp_path):
    bag = write_bag(tmp_path / "bag", "sqlite3")
    done = run_tool("replay", str(bag), "--bag-topic", "/rec/notes")
    assert done.returncode == 1
    assert "no image topic(s) /rec/notes" in done.stderr
    assert "/rec/front/image_raw (sensor_msgs/msg/Image)" in done.stderr
    done = run_tool("replay", str(tmp_path / "video.mp4"), "--original-stamps")
    assert done.returncode == 2 and "need a rosbag2 recording" in done.stderr


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_bag_as_the_nodes_camera(make_harness, reason1_model, tmp_path, storage):
    """The recording looping as camera "front" of the real node, which answers a goal from its frames."""
    topic = f"{PREFIX}/node_{storage}/front/image_raw"
    bag = write_bag(tmp_path / "bag", storage)
    h = make_harness({"model": str(reason1_model), "generation.max_new_tokens": 64, "cameras.front.topic": topic},
                     [], ready=False, node_name=f"bag_reasoner_{storage}", silent=("front",))
    process = subprocess.Popen([str(installed("replay")), str(bag), "--bag-topic", "/rec/front/image_raw",
                                "--map", f"/rec/front/image_raw={topic}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        h.wait_ready()
        buffer = h.node.parts.ingest.cameras["front"].buffer
        h.wait_for(lambda: len(buffer) >= FRAMES + 2 or process.poll() is not None, 30, "the bag to loop")
        assert process.poll() is None, process.stderr.read()
        status, result, _ = h.run("put the red cup on the tray", wait=90)
        assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
        [seen] = result.plan.cameras
        assert seen.camera == "front" and seen.frame_id == "rec_front" and len(seen.stamps) >= 2
        assert abs(seen.stamps[-1].sec - time.time()) < 30  # stamped now: the node found them fresh
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
