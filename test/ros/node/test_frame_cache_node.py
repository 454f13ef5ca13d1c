"""Over real DDS, with the frame cache and device preprocessing on (the defaults): when the scene in front of the
camera changes between two goals, what reaches the model changes with it; goals over an unchanged scene reuse
cached frames (counted in /diagnostics' numbers) and still give the model exactly the pixels the frames hold."""
from __future__ import annotations

import threading

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from cosmos_reason_ros.action import ReasonAboutTask
from helpers.ros_harness import Camera, Collector, image_msg

Goal = ReasonAboutTask.Goal
TOPIC = "/cache_node/front/image_raw"
WINDOW = 3.0  # s of history per goal: consecutive goals share most of their frames


def test_a_changed_scene_changes_what_reaches_the_model(make_harness, reason2_model) -> None:
    # Frames stored at the sampling rate: consecutive goals' grids land on the same stored frames.
    harness = make_harness({"model": str(reason2_model), "generation.temperature": 0.0, "buffer.store_rate": 2.0,
                            "frames.fps": 2.0, "diagnostics_period": 0.2},
                           [Camera("front", TOPIC, rate=20.0, width=320, height=240)], node_name="cache_node")
    backend = harness.node.parts.model.backend
    assert backend.preprocessing == "device"
    received: list[tuple[np.ndarray, torch.Tensor]] = []  # per model call: the clip's pixels, the model's pixels
    prepare = backend.prepare

    def recording_prepare(prompt):  # a recording double around the real method
        inputs, visual, opener = prepare(prompt)
        clip = next(part for part in prompt.parts if not isinstance(part, str))
        received.append((clip.pixels.copy(), inputs["pixel_values_videos"].detach().clone()))
        return inputs, visual, opener

    backend.prepare = recording_prepare
    # The test publishes the scene itself from here on: a flat grey level it chooses.
    harness.cameras[0].enabled = False
    level = {"value": 40}
    lock = threading.Lock()
    publisher = harness.helper.create_publisher(Image, TOPIC, qos_profile_sensor_data)

    def publish() -> None:
        with lock:
            pixels = np.full((240, 320, 3), level["value"], np.uint8)
        publisher.publish(image_msg(pixels, harness.helper.get_clock().now().to_msg(), "front_optical_frame"))

    harness.helper.create_timer(0.05, publish)
    buffer = harness.node.parts.ingest.cameras["front"].buffer

    def scene_is(value: int) -> bool:
        """Every buffered frame of the last WINDOW + 0.5 s shows ``value`` (and the buffer reaches back that far)."""
        frames = buffer.snapshot()
        if len(frames) < 2 or frames[-1].stamp - frames[0].stamp < WINDOW + 0.5:
            return False
        recent = [f for f in frames if f.stamp >= frames[-1].stamp - WINDOW - 0.5]
        return all(bytes(f.payload.data[:3]) == bytes([value] * 3) for f in recent)

    def goal() -> tuple[np.ndarray, torch.Tensor]:
        status, result, _ = harness.run(history_seconds=WINDOW, max_frames=6)
        assert result.error_code == ReasonAboutTask.Result.NONE, result.error_msg
        return received[-1]

    harness.wait_for(lambda: scene_is(40), 30.0, "the first scene in the buffer")
    dark_clip, dark_model = goal()
    cache = harness.node.parts.cameras.frame_cache
    hits = cache.stats().hits
    again_clip, again_model = goal()  # the same scene: frames shared with the last goal come from the cache
    assert cache.stats().hits > hits
    with lock:
        level["value"] = 200
    harness.wait_for(lambda: scene_is(200), 30.0, "the changed scene in the buffer")
    bright_clip, bright_model = goal()
    for clip, value in ((dark_clip, 40), (again_clip, 40), (bright_clip, 200)):
        rows = clip.shape[1] - (backend.family.pixels_per_token_side if backend.family.timestamp_overlay else 0)
        assert np.all(clip[:, :rows] == value)
    assert not torch.equal(bright_model, dark_model)
    # The model's pixels are the normalised scene: one value per channel, the same everywhere.
    mean, std = np.asarray(backend._processor.video_processor.image_mean), np.asarray(
        backend._processor.video_processor.image_std)
    for model_pixels, value in ((dark_model, 40), (again_model, 40), (bright_model, 200)):
        patch = backend._processor.video_processor.patch_size
        temporal = backend._processor.video_processor.temporal_patch_size
        channels = model_pixels.float().reshape(model_pixels.shape[0], 3, temporal * patch * patch)
        want = torch.tensor((value / 255.0 - mean) / std, dtype=torch.float32)
        assert torch.allclose(channels, want[None, :, None].expand_as(channels), atol=1e-5)
    # /diagnostics reports both caches: the cameras' frames (hits counted above) and the model's patches.
    arrays = Collector(harness, DiagnosticArray, "/diagnostics", 10)

    def reported() -> dict[str, dict[str, str]]:
        latest = arrays.messages[-1].status if arrays.messages else []
        return {s.name: {kv.key: kv.value for kv in s.values} for s in latest}

    harness.wait_for(lambda: "/cache_node: frame cache" in reported(), 10.0, "the frame cache in /diagnostics")
    frames, model = reported()["/cache_node: frame cache"], reported()["/cache_node: model"]
    assert int(frames["cache_hits"]) == cache.stats().hits > 0  # no request since the goals: the same count
    assert int(frames["cache_entries"]) > 0 and float(frames["cache_mb"]) > 0
    assert model["preprocessing"] == "device" and int(model["normalised_cache_misses"]) > 0
