"""Accepted clips copied or linked to a folder, so a training set can be built from the report."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import cv2

from cosmos_reason_ros.critic.inputs import KINDS, ClipSpec, Settings, decode


def _whole_source(record: dict[str, Any], settings: Settings) -> bool:
    """Whether the clip is the whole file or folder (then it is copied as it is, not re-encoded)."""
    return (record.get("kind") in KINDS and record.get("kind") != "bag" and settings.window <= 0
            and settings.start <= 0 and settings.end <= 0)


def export(record: dict[str, Any], folder: Path, settings: Settings, link: bool) -> Path:
    """Copy (or symlink) an accepted clip into ``folder``; a window of a longer source, or of a recording,
    is written as an MP4 of its sampled frames. Returns the path written."""
    folder.mkdir(parents=True, exist_ok=True)
    source = Path(record["source"])
    if _whole_source(record, settings):
        target = folder / source.name
        if target.exists() or target.is_symlink():
            target = folder / f"{source.stem}_{hashlib.sha256(str(source).encode()).hexdigest()[:8]}{source.suffix}"
        if link:
            os.symlink(source, target)
        elif source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        return target
    start, end = record["window"]
    topic = record.get("topic", "").strip("/").replace("/", "_")
    target = folder / f"{source.stem}{'_' + topic if topic else ''}_{start:.2f}-{end:.2f}.mp4"
    spec = ClipSpec(str(source), record["kind"], start, end, record.get("topic", ""), record["key"])
    frames = decode(spec, settings)
    height, width = frames[0].pixels.shape[:2]
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), max(1.0, settings.fps), (width, height))
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame.pixels, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return target
