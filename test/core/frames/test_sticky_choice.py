"""Choosing frames with a preference for frames already prepared: targets other than the newest take a preferred
frame within ``stick`` s before a nearer one; without a preference, or beyond ``stick``, the nearest frame."""
from __future__ import annotations

from cosmos_reason_ros.core.frames.buffer import BufferedFrame, choose_decodable, time_grid


def frames(count: int, step: float = 0.1) -> list[BufferedFrame]:
    return [BufferedFrame(stamp=100.0 + step * i, received=0.0, payload=i, nbytes=1) for i in range(count)]


def stamps(choice) -> list[float]:
    return [round(frame.stamp, 3) for frame, _ in choice.frames]


def test_preferred_frames_win_within_stick_and_never_for_the_newest_target() -> None:
    window = frames(41)  # 100.0 .. 104.0 at 10 Hz
    grid = time_grid([104.0], 4.0, 8, 2.0)  # targets 100.5 .. 104.0 every 0.5 s
    preferred = {4, 9, 14, 19, 24, 29, 34, 39}  # frames 0.1 s before each target (a grid one frame earlier)
    nearest = choose_decodable(window, grid, lambda f: f.payload)
    assert stamps(nearest) == [100.5, 101.0, 101.5, 102.0, 102.5, 103.0, 103.5, 104.0]
    sticky = choose_decodable(window, grid, lambda f: f.payload, prefer=lambda f: f.payload in preferred, stick=0.125)
    assert stamps(sticky) == [100.4, 100.9, 101.4, 101.9, 102.4, 102.9, 103.4, 104.0]  # the newest stays newest
    too_far = choose_decodable(window, grid, lambda f: f.payload, prefer=lambda f: f.payload in preferred,
                               stick=0.05)
    assert stamps(too_far) == stamps(nearest)


def test_an_undecodable_preferred_frame_gives_way_to_the_nearest() -> None:
    window = frames(41)
    grid = time_grid([104.0], 4.0, 8, 2.0)
    choice = choose_decodable(window, grid, lambda f: None if f.payload == 4 else f.payload,
                              prefer=lambda f: f.payload == 4, stick=0.125)
    assert stamps(choice)[0] == 100.5 and [round(f.stamp, 3) for f in choice.failed] == [100.4]
