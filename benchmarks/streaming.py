#!/usr/bin/env python3
"""Streaming work per generated token outside the model: detokenising, the stream event, the reasoner's
progress and the goal's feedback throttle, with the old path (a report per token) and the batched one in
one run.

The model is left out: ``CallbackStreamer.put`` is fed the token ids of a long reasoning-like text one by
one (as ``generate`` feeds it), and its events go through the same steps as in the node: the stage from the
text (``Reasoner.run``'s ``on_stream``), ``Progress``, and ``FeedbackThrottle.progress`` with a real
``ReasonAboutTask.Feedback`` built for every published message (the goal handle is a counting double that
does not send). ``--rounds`` rounds alternate old and new; the table gives the median µs per token of each.
The tokenizer is the tiny test model's (a byte-level BPE like Qwen's, with a small vocabulary: more tokens per
word, so a conservative text for the per-token cost).

    python benchmarks/streaming.py --tokens 4000 --json out.json
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    fmt,
    machine_info,
    machine_line,
    markdown_table,
    require_installed_package,
    tiny_model_dir,
    write_json,
)

REASONING = (
    "The red cup stands upright on the table, well inside the arm's reach. The gripper is empty and nothing "
    "blocks the path, so the cup can be grasped and moved to the tray. The tray lies flat to the right of the "
    "cup; its rim is low, so the cup can be set down from just above it without tipping. The arm must first "
    "open the gripper, move above the cup, descend, close on the cup's body and lift it by a few centimetres. "
)
ANSWER = ('{"subtasks": [{"action": "pick", "description": "pick up the red cup"}, {"action": "place", '
          '"description": "place the red cup on the tray"}], "feasible": "yes", "confidence": 0.9}')


class CountingGoalHandle:
    """Test double of an action goal handle: counts the feedback it is asked to publish, sends nothing."""

    def __init__(self) -> None:
        self.published = 0
        self.request = None

    def publish_feedback(self, feedback: Any) -> None:
        self.published += 1


def token_ids(tokenizer: Any, count: int) -> list[int]:
    """``count`` ids of a reasoning block, its close and an answer (the close lands about 80 % of the way)."""
    from cosmos_reason_ros.core.models.families import THINK_CLOSE

    per_block = len(tokenizer.encode(REASONING, add_special_tokens=False))
    text = REASONING * max(1, int(count * 0.8) // per_block) + f"\n{THINK_CLOSE}\n\n" + ANSWER * 20
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) < count:
        ids += tokenizer.encode(ANSWER * (count // 10), add_special_tokens=False)
    return ids[:count]


def run_once(tokenizer: Any, ids: list[int], batch_tokens: int, feedback_rate: float) -> dict[str, Any]:
    """Feed ``ids`` through the streamer, progress and feedback; the time per token and what came out."""
    import torch

    from cosmos_reason_ros.core.datatypes import Stage
    from cosmos_reason_ros.core.models.backend import GenerationRequest, SamplingParams, StreamEvent
    from cosmos_reason_ros.core.models.streaming import CallbackStreamer
    from cosmos_reason_ros.core.modes.prompts import Prompt
    from cosmos_reason_ros.core.reasoner import Progress
    from cosmos_reason_ros.ros.goals.feedback import FeedbackThrottle

    handle = CountingGoalHandle()
    started = time.monotonic()
    throttle = FeedbackThrottle(handle, feedback_rate, started)
    events = 0
    switch_at: list[int] = []

    def on_stream(event: StreamEvent) -> None:  # what Reasoner.run's on_stream does with each event
        nonlocal events
        events += 1
        stage = Stage.ANSWERING if event.answering else Stage.THINKING
        if stage is Stage.ANSWERING and not switch_at:
            switch_at.append(event.tokens)
        throttle.progress(Progress(stage, event.tokens, event.delta, event.text, time.monotonic() - started))

    request = GenerationRequest(prompt=Prompt(system="", parts=[], mode=None), sampling=SamplingParams(),
                                on_stream=on_stream)
    streamer = CallbackStreamer(tokenizer, request, started, batch_tokens=batch_tokens)
    tensors = [torch.tensor([i]) for i in ids]
    streamer.put(torch.tensor([[0, 1, 2]]))  # the prompt ids, skipped
    began = time.perf_counter()
    for value in tensors:
        streamer.put(value)
    streamer.end()
    throttle.flush()
    seconds = time.perf_counter() - began
    return {"us_per_token": seconds / len(ids) * 1e6, "events": events, "feedback": handle.published,
            "text": streamer.text, "switch_at": switch_at[0] if switch_at else -1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=4000, help="tokens per run")
    parser.add_argument("--rounds", type=int, default=7, help="rounds, each running the old and the new path")
    parser.add_argument("--feedback-rate", type=float, default=10.0, help="the node's feedback_rate (Hz)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    require_installed_package()
    from transformers import AutoTokenizer

    from cosmos_reason_ros.core.models import streaming
    from cosmos_reason_ros.core.models.families import THINK_CLOSE

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir())
    ids = token_ids(tokenizer, args.tokens)
    close_at = next(i + 1 for i in range(len(ids)) if THINK_CLOSE in tokenizer.decode(ids[:i + 1]))
    paths = {"old: a report per token": 1, f"new: batches of {streaming.STREAM_BATCH_TOKENS}": None}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for name, batch in paths.items():
            results[name].append(run_once(tokenizer, ids, batch if batch else streaming.STREAM_BATCH_TOKENS,
                                          args.feedback_rate))
    texts = {r["text"] for runs in results.values() for r in runs}
    if len(texts) != 1 or texts.pop() != tokenizer.decode(ids, clean_up_tokenization_spaces=False):
        raise SystemExit("the batched text differs from the per-token text: a defect")
    rows, summary = [], {}
    for name, runs in results.items():
        us = [r["us_per_token"] for r in runs]
        summary[name] = {"median_us_per_token": statistics.median(us), "min_us_per_token": min(us),
                         "events": runs[0]["events"], "feedback": runs[0]["feedback"],
                         "switch_at": runs[0]["switch_at"]}
        rows.append([name, fmt(statistics.median(us), 1), fmt(min(us), 1), runs[0]["events"], runs[0]["feedback"],
                     f"token {runs[0]['switch_at']} (closes at {close_at})"])
    data = {"machine": machine_info(), "settings": vars(args) | {"json": str(args.json)}, "tokens": len(ids),
            "summary": summary, "runs": results | {}}
    for runs in data["runs"].values():
        for r in runs:
            r.pop("text")
    print(f"Measured on: {machine_line(data['machine'])}")
    print(f"{len(ids)} tokens per run, {args.rounds} rounds, feedback_rate {args.feedback_rate:g} Hz; identical text "
          "from both paths")
    print(markdown_table(["path", "median µs / token", "min µs / token", "stream events", "feedback msgs",
                          "answering seen at"], rows))
    write_json(args.json, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
