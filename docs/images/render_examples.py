#!/usr/bin/env python3
"""Renders the "after" pictures of docs/images/README.md with the installed package (`. scripts/env.sh`
first): the annotated image as the node draws it, for a few modes, sizes and camera counts.

    python3 docs/images/render_examples.py docs/images
"""
import sys

import cv2
import numpy as np
from PIL import Image as PILImage

from cosmos_reason_ros.msg import FeasibilityJudgment, Subtask, TaskPlan
from cosmos_reason_ros.ros.outputs import markers as visualization


def scene(w: int, h: int, wrist: bool = False) -> np.ndarray:
    """A table with a red cup and a tray (front), or a close view of the cup (wrist); RGB."""
    f = np.full((h, w, 3), (110, 100, 80) if wrist else (140, 120, 90), np.uint8)
    s = w / 640
    if wrist:
        cv2.circle(f, (int(w * 0.5), int(h * 0.55)), int(70 * s), (220, 40, 40), -1)
        cv2.rectangle(f, (0, int(h * 0.8)), (w, h), (60, 60, 60), -1)
        return f
    cv2.rectangle(f, (int(420 * s), int(330 * s)), (int(600 * s), int(350 * s)), (60, 60, 60), -1)
    cv2.rectangle(f, (int(100 * s), int(260 * s)), (int(160 * s), int(340 * s)), (220, 40, 40), -1)
    return f


def plan(mode: int, task: str = "put the red cup on the tray", verdict: int = 0, confidence: float = -1.0,
         explanation: str = "", blocking=(), steps=(), completion: int = 0, answer: str = "") -> TaskPlan:
    p = TaskPlan(task=task, mode=mode, completion=completion, answer=answer, model_id="nvidia/Cosmos-Reason1-7B")
    p.feasibility = FeasibilityJudgment(verdict=verdict, confidence=confidence, explanation=explanation,
                                        blocking_factors=list(blocking))
    p.subtasks = [Subtask(index=i, action=a, description=d, target_objects=t, success_criterion=c)
                  for i, (a, d, t, c) in enumerate(steps)]
    return p


STEPS = [("pick", "pick up the red cup from the table by its handle, keeping it upright", ["red cup"],
          "the cup is lifted off the table"),
         ("move", "carry the cup over the tray without tilting it", ["red cup", "tray"], "the cup is above the tray"),
         ("place", "place the red cup on the tray and open the gripper", ["red cup", "tray"],
          "the cup rests on the tray")]
PLANS = {
    "decompose": plan(0, verdict=1, confidence=0.9, steps=STEPS,
                      explanation="the cup is within reach and nothing blocks it"),
    "feasibility": plan(1, task="can the arm reach the red cup on the far side of the table?", verdict=2,
                        confidence=0.8,
                        explanation="the cup is beyond the arm's reach and a closed glass door stands between them",
                        blocking=["closed glass door", "cup out of reach (1.4 m)"]),
    "next": plan(2, steps=[STEPS[0]], answer="Pick up the red cup first."),
    "verify_not_done": plan(3, completion=2, answer="The red cup is still on the table, 20 cm left of the tray."),
    "question": plan(4, task="what colour is the cup and where is it?",
                     answer="The cup is red; it stands on the table about 20 cm to the left of the grey tray."),
}


def save(rgb: np.ndarray, path: str, width: int = 0) -> None:
    """A small PNG (64 colours), scaled down to ``width`` if given."""
    if width and rgb.shape[1] > width:
        rgb = cv2.resize(rgb, (width, round(rgb.shape[0] * width / rgb.shape[1])), interpolation=cv2.INTER_AREA)
    PILImage.fromarray(rgb).quantize(colors=64, method=PILImage.Quantize.MEDIANCUT).save(path, optimize=True)


def main(out: str) -> None:
    front = [("front", scene(320, 240))]
    save(visualization.annotate(PLANS["verify_not_done"], front), f"{out}/after-verify-not-done-320x240.png")
    save(visualization.annotate(PLANS["decompose"], front), f"{out}/after-decompose-320x240.png")
    save(visualization.annotate(PLANS["next"], front), f"{out}/after-next-320x240.png")
    save(visualization.annotate(PLANS["question"], [("front", scene(1920, 1080))]),
         f"{out}/after-question-1080p.png", 640)
    save(visualization.annotate(PLANS["feasibility"], [*front, ("wrist", scene(320, 240, wrist=True))]),
         f"{out}/after-feasibility-two-cameras.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
