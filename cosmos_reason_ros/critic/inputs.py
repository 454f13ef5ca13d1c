"""What the critic judges: clips found in video files, folders, image sequences and rosbag2 recordings.

``discover`` turns the command line's inputs into ``ClipSpec``s (one per window of each source) without
decoding pixels; ``decode`` reads one clip's frames. Nothing here imports ROS: recordings are read with
the ``rosbags`` library (sqlite3 and MCAP storage), videos and images with OpenCV.

A source that cannot be read gives a spec that already carries its error (a named ``code``), so the run
writes a record for it and goes on.
"""
from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cosmos_reason_ros.core.datatypes import Frame
from cosmos_reason_ros.critic.bags import bag_span, decode_bag
from cosmos_reason_ros.critic.errors import (
    CORRUPT_FRAME,
    EMPTY_INPUT,
    NO_FRAMES_IN_WINDOW,
    NOT_FOUND,
    UNREADABLE_INPUT,
    UNSUPPORTED_INPUT,
    InputError,
)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
BAG_SUFFIXES = (".db3", ".mcap")

#: What a source can be: a video file, an image-sequence folder or a rosbag2 recording (ClipSpec.kind).
KINDS = ("video", "images", "bag")


@dataclass
class Settings:
    """How sources are cut into clips and sampled."""

    topic: str = ""  # image topic of recordings
    start: float = 0.0  # s from the source's start
    end: float = 0.0  # s from the source's start; 0 = its end
    window: float = 0.0  # s per clip; 0 = the whole (start..end) span is one clip
    fps: float = 2.0  # frames per second sampled from a clip
    max_frames: int = 16  # at most this many frames per clip (evenly spaced)
    image_rate: float = 4.0  # frame rate of an image-sequence folder (frames have no times of their own)


@dataclass
class ClipSpec:
    """One clip to judge: a window of one source. ``key`` identifies it across runs (resume)."""

    source: str
    kind: str  # "video" | "images" | "bag" | "" (unknown: the error says why)
    start: float = 0.0
    end: float = 0.0
    topic: str = ""
    key: str = ""
    error_code: str = ""
    error: str = ""

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def _fingerprint(path: Path) -> str:
    """path + size + mtime of a file, or of every file in a folder (a change anywhere changes it)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    parts = [str(path.resolve())]
    for file in files:
        stat = file.stat()
        parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def _key(fingerprint: str, topic: str, start: float, end: float) -> str:
    return hashlib.sha256(f"{fingerprint}|{topic}|{start:.3f}|{end:.3f}".encode()).hexdigest()[:24]


def windows(start: float, end: float, length: float) -> list[tuple[float, float]]:
    """``start..end`` cut into windows of ``length`` s (0 = one window); a last part shorter than half a
    window is dropped, unless it is the only one."""
    if length <= 0 or end - start <= length:
        return [(start, end)]
    count = math.floor((end - start) / length + 1e-9)
    cuts = [(start + i * length, start + (i + 1) * length) for i in range(count)]
    if end - cuts[-1][1] >= length / 2:
        cuts.append((cuts[-1][1], end))
    return cuts


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _is_bag_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "metadata.yaml").is_file()
                              or any(p.suffix in BAG_SUFFIXES for p in path.iterdir()))


def expand(inputs: Iterable[str]) -> Iterator[tuple[Path, str]]:
    """(path, kind) of every source in ``inputs``: folders of videos are searched recursively, a folder
    holding images is one image sequence, a rosbag2 folder or .db3/.mcap file one recording."""
    for text in inputs:
        path = Path(text).expanduser()
        if not path.exists():
            yield path, "missing"
        elif path.is_file():
            suffix = path.suffix.lower()
            if suffix in BAG_SUFFIXES:
                yield (path.parent if (path.parent / "metadata.yaml").is_file() else path), "bag"
            else:
                yield path, "video" if suffix in VIDEO_SUFFIXES else "unsupported"
        elif _is_bag_dir(path):
            yield path, "bag"
        elif _image_files(path):
            yield path, "images"
        else:
            found = False
            for child in sorted(path.iterdir()):
                if child.is_dir() or child.suffix.lower() in VIDEO_SUFFIXES + BAG_SUFFIXES:
                    for item in expand([str(child)]):
                        found = True
                        yield item
            if not found:
                yield path, "empty"


def discover(inputs: Iterable[str], settings: Settings) -> list[ClipSpec]:
    """Every clip of every source, in input order; unreadable sources give one spec with their error."""
    specs: list[ClipSpec] = []
    seen: set[str] = set()
    for path, kind in expand(inputs):
        source = str(path.resolve()) if path.exists() else str(path)
        try:
            span = _span(path, kind, settings)
            fingerprint = _fingerprint(path)
        except InputError as e:
            specs.append(ClipSpec(source, kind if kind in KINDS else "", topic=settings.topic,
                                  key=_key(source, settings.topic, -1, -1), error_code=e.code, error=e.message))
            continue
        begin = max(0.0, settings.start)
        finish = min(span, settings.end) if settings.end > 0 else span
        if finish <= begin:
            specs.append(ClipSpec(source, kind, begin, finish, settings.topic, _key(fingerprint, settings.topic, begin,
                                  finish), NO_FRAMES_IN_WINDOW, f"the window {begin:.2f}..{finish:.2f} s is empty "
                                  f"(the source lasts {span:.2f} s)"))
            continue
        for start, end in windows(begin, finish, settings.window):
            key = _key(fingerprint, settings.topic if kind == "bag" else "", start, end)
            if key not in seen:
                seen.add(key)
                specs.append(ClipSpec(source, kind, round(start, 6), round(end, 6),
                                      settings.topic if kind == "bag" else "", key))
    return specs


def _span(path: Path, kind: str, settings: Settings) -> float:
    """The source's length in s (raises InputError for what cannot be read)."""
    if kind == "missing":
        raise InputError(NOT_FOUND, f"{path} does not exist")
    if kind == "unsupported":
        raise InputError(UNSUPPORTED_INPUT, f"{path.name}: not a video ({', '.join(VIDEO_SUFFIXES)}), an image "
                                            "folder or a rosbag2 recording (.db3, .mcap, or its folder)")
    if kind == "empty":
        raise InputError(EMPTY_INPUT, f"{path} holds no video, image or recording")
    if kind == "video":
        return _video_span(path)
    if kind == "images":
        return len(_image_files(path)) / settings.image_rate
    return bag_span(path, settings.topic)


def _open_video(path: Path) -> cv2.VideoCapture:
    if path.stat().st_size == 0:
        raise InputError(EMPTY_INPUT, f"{path.name} is a zero-length file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise InputError(UNREADABLE_INPUT, f"{path.name}: OpenCV cannot open it as a video")
    return capture


def _video_span(path: Path) -> float:
    capture = _open_video(path)
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if count <= 0 or fps <= 0:
            ok, _ = capture.read()
            if not ok:
                raise InputError(EMPTY_INPUT, f"{path.name}: the video has no frame")
            raise InputError(UNREADABLE_INPUT, f"{path.name}: the video reports no frame count or rate")
        return count / fps
    finally:
        capture.release()


def sample_times(start: float, end: float, settings: Settings) -> list[float]:
    """The times (s) at which a clip is sampled: ``fps`` per second, at most ``max_frames``, evenly."""
    count = max(1, min(settings.max_frames, int(math.floor((end - start) * settings.fps + 1e-9)) or 1))
    step = (end - start) / count
    return [start + step * (i + 0.5) for i in range(count)]


def decode(spec: ClipSpec, settings: Settings) -> list[Frame]:
    """The sampled frames of one clip, oldest first (raises InputError)."""
    if spec.error_code:
        raise InputError(spec.error_code, spec.error)
    path = Path(spec.source)
    times = sample_times(spec.start, spec.end, settings)
    if spec.kind == "video":
        return _decode_video(path, times)
    if spec.kind == "images":
        return _decode_images(path, times, settings.image_rate)
    return decode_bag(path, spec.topic, spec.start, spec.end, times)


def _decode_video(path: Path, times: list[float]) -> list[Frame]:
    capture = _open_video(path)
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        wanted = sorted({min(count - 1, int(t * fps)) for t in times})
        capture.set(cv2.CAP_PROP_POS_FRAMES, wanted[0])
        index, frames = wanted[0], []
        for target in wanted:
            ok, bgr = True, None
            while index <= target:
                ok, bgr = capture.read()
                index += 1
                if not ok:
                    break
            if not ok or bgr is None:
                raise InputError(CORRUPT_FRAME, f"{path.name}: frame {target} of {count} cannot be decoded "
                                                "(truncated or corrupt video)")
            frames.append(Frame(np.ascontiguousarray(bgr[:, :, ::-1]), target / fps))
        return frames
    finally:
        capture.release()


def _decode_images(folder: Path, times: list[float], rate: float) -> list[Frame]:
    files = _image_files(folder)
    frames = []
    for index in sorted({min(len(files) - 1, int(t * rate)) for t in times}):
        bgr = cv2.imread(str(files[index]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(CORRUPT_FRAME, f"{files[index].name} cannot be decoded as an image")
        frames.append(Frame(np.ascontiguousarray(bgr[:, :, ::-1]), index / rate))
    return frames


def describe(spec: ClipSpec) -> str:
    """"name [start-end s]" for summaries."""
    name = os.path.basename(spec.source.rstrip("/")) or spec.source
    return f"{name}{' ' + spec.topic if spec.topic else ''} [{spec.start:.1f}-{spec.end:.1f} s]"

