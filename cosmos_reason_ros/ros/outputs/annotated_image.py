"""The annotated image: the newest frame of every camera a goal used, side by side and labelled with the
camera's name, above a panel with the headline (in its colour), the task and the details.

The text goes in a panel under the frames rather than over them, so it hides nothing of the scene; it is
wrapped to the image's width (never cut), and its size follows the image's width, from about 12 px high on
a 320-pixel-wide camera to about 40 px on a 1080p one. Several cameras are tiled in one image (one
topic, one rviz display); frames are scaled to a common height, and the whole row to at most
``MAX_WIDTH`` pixels.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from cosmos_reason_ros.msg import TaskPlan
from cosmos_reason_ros.ros.outputs.object_drawing import draw_objects
from cosmos_reason_ros.ros.outputs.plan_text import body_lines, headline, task_line

FONT = cv2.FONT_HERSHEY_SIMPLEX
MAX_WIDTH = 1920  # px, widest tiled row of frames
MAX_BODY_LINES = 14  # wrapped detail lines at most; further ones are summarised in one line
PANEL_RGB = (24, 24, 24)
TASK_RGB = (190, 190, 190)
BODY_RGB = (240, 240, 240)
FOOTER_RGB = (150, 150, 150)


@dataclass(frozen=True)
class TextLine:
    """One drawn line: text, top-left corner of its box, box size, colour (RGB 0-255) and font."""

    text: str
    x: int
    y: int
    width: int
    height: int
    color: tuple[int, int, int]
    scale: float
    thickness: int


def text_height(width: int) -> int:
    """Cap height in px of body text on an image ``width`` px wide: readable at 320 and at 1920."""
    return int(np.clip(round(width / 42), 12, 44))


def font_for(cap_height: int) -> tuple[float, int]:
    """The ``FONT`` scale and stroke thickness that draw capitals ``cap_height`` px high (for every text drawn
    on the image, the raised-watches banner included)."""
    (_, unit), _ = cv2.getTextSize("H", FONT, 1.0, 1)
    return cap_height / unit, max(1, round(cap_height / 13))


def wrap_to_width(text: str, max_width: int, scale: float, thickness: int) -> list[str]:
    """Greedy word wrap by rendered width; a word wider than a line is split."""
    def fits(candidate: str) -> bool:
        return cv2.getTextSize(candidate, FONT, scale, thickness)[0][0] <= max_width

    lines: list[str] = []
    current = ""
    for word in text.split():
        while not fits(word):  # split an over-long word (a URL, a path) at the widest prefix that fits
            cut = max(1, next((i for i in range(len(word), 0, -1) if fits(word[:i])), 1))
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
        else:
            lines.append(current)
            current = word
    if current or not lines:
        lines.append(current)
    return lines


def layout(plan: TaskPlan, width: int, footer: str = "") -> tuple[list[TextLine], int]:
    """The panel's lines (positions relative to the panel's top-left) and the panel's height."""
    cap = text_height(width)
    margin = max(6, cap // 2)
    usable = width - 2 * margin
    lines: list[TextLine] = []
    y = margin

    def add(text: str, cap_height: int, color: tuple[int, int, int], bold: int = 0, gap: float = 0.6) -> None:
        nonlocal y
        scale, thickness = font_for(cap_height)
        thickness += bold
        for part in wrap_to_width(text, usable, scale, thickness):
            (w, h), _ = cv2.getTextSize(part, FONT, scale, thickness)
            lines.append(TextLine(part, margin, y, w, h, color, scale, thickness))
            y += int(h * (1 + gap))

    title = headline(plan)
    add(title.text, int(cap * 1.5), tuple(int(round(c * 255)) for c in title.color), bold=1, gap=0.5)
    add(task_line(plan), cap, TASK_RGB)
    body: list[str] = []
    scale, thickness = font_for(cap)
    for paragraph in body_lines(plan):
        body += wrap_to_width(paragraph, usable, scale, thickness)
    if len(body) > MAX_BODY_LINES:
        body = body[:MAX_BODY_LINES - 1] + [f"... {len(body) - MAX_BODY_LINES + 1} more lines (see ~/plan)"]
    for line in body:
        add(line, cap, BODY_RGB)
    if footer:
        add(footer, max(11, int(cap * 0.8)), FOOTER_RGB)
    return lines, y + margin // 2


def tile(views: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """The frames side by side at a common height (the smallest), each labelled with its camera's name."""
    height = min(pixels.shape[0] for _, pixels in views)
    tiles = []
    for _, pixels in views:
        scaled = pixels if pixels.shape[0] == height else cv2.resize(
            pixels, (max(1, round(pixels.shape[1] * height / pixels.shape[0])), height), interpolation=cv2.INTER_AREA)
        tiles.append(np.ascontiguousarray(scaled[..., :3], dtype=np.uint8))
    row = np.concatenate(tiles, axis=1) if len(tiles) > 1 else tiles[0].copy()
    if row.shape[1] > MAX_WIDTH:
        row = cv2.resize(row, (MAX_WIDTH, max(1, round(row.shape[0] * MAX_WIDTH / row.shape[1]))),
                         interpolation=cv2.INTER_AREA)
    scale = row.shape[1] / sum(t.shape[1] for t in tiles)
    cap = text_height(row.shape[1]) if len(views) == 1 else text_height(round(tiles[0].shape[1] * scale))
    font_scale, thickness = font_for(cap)
    x = 0
    for (name, _), original in zip(views, tiles, strict=True):
        (w, h), base = cv2.getTextSize(name, FONT, font_scale, thickness)
        pad = max(3, cap // 3)
        cv2.rectangle(row, (x, 0), (x + w + 2 * pad, h + base + 2 * pad), PANEL_RGB, -1)
        cv2.putText(row, name, (x + pad, pad + h), FONT, font_scale, BODY_RGB, thickness, cv2.LINE_AA)
        x += round(original.shape[1] * scale)
        if x < row.shape[1]:
            cv2.line(row, (x, 0), (x, row.shape[0] - 1), PANEL_RGB, max(1, cap // 6))
    return row


def render(plan: TaskPlan, views: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """The annotated image (RGB) for ``plan`` over ``views``: (camera name, RGB frame) pairs, in order."""
    if not views:
        raise ValueError("no camera frame to annotate")
    views = [(name, draw_objects(pixels, name, plan.objects)) for name, pixels in views]  # located objects
    row = tile(views)
    stats = plan.stats
    footer = " | ".join(part for part in (
        f"cameras: {', '.join(name for name, _ in views)}",
        f"{stats.generated_tokens} tokens, {stats.total_time:.1f} s" if stats.generated_tokens else "",
        plan.model_id.rstrip("/").split("/")[-1]) if part)
    lines, panel_height = layout(plan, row.shape[1], footer)
    panel = np.empty((panel_height, row.shape[1], 3), np.uint8)
    panel[:] = PANEL_RGB
    for line in lines:
        cv2.putText(panel, line.text, (line.x, line.y + line.height), FONT, line.scale, line.color, line.thickness,
                    cv2.LINE_AA)
    return np.concatenate([row, panel], axis=0)
