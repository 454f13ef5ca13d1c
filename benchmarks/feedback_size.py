#!/usr/bin/env python3
"""Bytes of action feedback one goal costs on the wire, with the whole text in every message (the old
behaviour, now goal ``full_text_feedback: true``) and with it in the last message only (the default).

The node's own FeedbackThrottle publishes; each message is serialised with rclpy (the CDR bytes DDS
carries). Generation is replayed on a simulated clock (no model: this measures the feedback, not the
decoding), one token of ``--chars-per-token`` characters at a time at ``--tok-s`` tokens per second, so a
4,000-token answer takes no 100 s to measure.

    python3 benchmarks/feedback_size.py --tokens 4000 --tok-s 40 400 --json out.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


class _Clock:
    """Stands in for the ``time`` module inside goal_feedback: monotonic() is the simulated time."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class _Recorder:
    """A goal handle that serialises what it is asked to publish."""

    def __init__(self, full_text: bool) -> None:
        from cosmos_reason_ros.action import ReasonAboutTask

        self.request = ReasonAboutTask.Goal(task="t", full_text_feedback=full_text)
        self.messages = 0
        self.bytes = 0
        self.largest = 0

    def publish_feedback(self, feedback) -> None:
        from rclpy.serialization import serialize_message

        size = len(serialize_message(feedback))
        self.messages += 1
        self.bytes += size
        self.largest = max(self.largest, size)


def measure(tokens: int, tok_s: float, chars_per_token: int, rate_hz: float, full_text: bool) -> dict:
    from cosmos_reason_ros.core.datatypes import Stage
    from cosmos_reason_ros.core.reasoner import Progress
    from cosmos_reason_ros.ros.goals import feedback as goal_feedback

    clock = _Clock()
    real_time = goal_feedback.time
    goal_feedback.time = clock  # the throttle reads time.monotonic(); replay on the simulated clock
    try:
        handle = _Recorder(full_text)
        throttle = goal_feedback.FeedbackThrottle(handle, rate_hz, started=0.0)
        throttle.stage(Stage.ENCODING)
        token = "w" * (chars_per_token - 1) + " "
        text = ""
        for i in range(tokens):
            clock.now = (i + 1) / tok_s
            text += token
            stage = Stage.THINKING if i < tokens * 3 // 4 else Stage.ANSWERING
            throttle.progress(Progress(stage=stage, tokens=i + 1, delta=token, text=text, elapsed=clock.now))
        throttle.flush()
    finally:
        goal_feedback.time = real_time
    return {"tokens": tokens, "tok_s": tok_s, "chars": len(text), "full_text_feedback": full_text,
            "messages": handle.messages, "bytes": handle.bytes, "largest_message": handle.largest}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=4000)
    parser.add_argument("--tok-s", type=float, nargs="+", default=[40.0, 400.0],
                        help="decode speeds to replay (default: 40 = a 7B model on a GPU, 400 = the tiny model)")
    parser.add_argument("--chars-per-token", type=int, default=4, help="English text averages about 4")
    parser.add_argument("--rate", type=float, default=10.0, help="feedback_rate, Hz (the node's default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    common.require_installed_package()
    rows = [measure(args.tokens, tok_s, args.chars_per_token, args.rate, full)
            for tok_s in args.tok_s for full in (True, False)]
    print(f"feedback of one {args.tokens}-token goal ({args.chars_per_token} chars/token, feedback_rate "
          f"{args.rate:g} Hz), serialised CDR bytes")
    print("| decode | partial_text in | messages | total | largest message |")
    print("|---|---|---|---|---|")
    for row in rows:
        where = "every message (before; `full_text_feedback: true`)" if row["full_text_feedback"] else \
            "the last message (default)"
        print(f"| {row['tok_s']:g} tok/s | {where} | {row['messages']} | {row['bytes'] / 1000:,.0f} KB | "
              f"{row['largest_message'] / 1000:,.1f} KB |")
    common.write_json(args.json, {"rows": rows, "machine": common.machine_info(),
                                  "settings": {"tokens": args.tokens, "chars_per_token": args.chars_per_token,
                                               "feedback_rate": args.rate}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
