"""The critic's report: JSON Lines written one flushed record at a time, read back to resume; CSV and text
summaries.

A record is one clip (see ``docs/critic.md`` for the fields). The file is only ever appended to, each
record followed by a flush and an fsync, so an interrupted run (Ctrl-C, a kill, a crash) leaves every
record it finished; a partial last line is dropped when the report is opened again. When a key appears
more than once (a retried error), the last record counts.
"""
from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Version of the record layout, written in every record.
RECORD_VERSION = 1

CSV_FIELDS = ("source", "topic", "start", "end", "verdict", "score", "scale", "confidence", "accepted", "frames",
              "error_code", "error", "model", "total_s", "key")


class Report:
    """An append-only JSON Lines report, and the records already in it (by key, the last one winning)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        self.dropped = 0  # lines that were not a complete record (a partial last line, garbage)
        self._file: Any | None = None
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) < len(data):  # the run was killed mid-write: drop the partial line
            self.dropped += 1
            with open(self.path, "r+b") as handle:
                handle.truncate(len(complete))
        for line in complete.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                self.dropped += 1
                continue
            if isinstance(record, dict) and isinstance(record.get("key"), str):
                self.records[record["key"]] = record
            else:
                self.dropped += 1

    def done(self, key: str, retry_errors: bool = False) -> bool:
        """Whether the clip is already judged (or, unless ``retry_errors``, already failed)."""
        record = self.records.get(key)
        return record is not None and not (retry_errors and record.get("error"))

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably (flush + fsync): what is written survives a kill right after."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records[record["key"]] = record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def is_accepted(record: dict[str, Any], threshold: float | None) -> bool:
    """Plausible (no threshold), or a score of at least ``threshold`` on the record's scale."""
    if record.get("error") or record.get("verdict") == "unknown":
        return False
    if threshold is None:
        return record.get("verdict") == "plausible"
    score = record.get("score")
    return isinstance(score, (int, float)) and score >= threshold


def write_csv(records: Iterable[dict[str, Any]], path: Path, threshold: float | None) -> None:
    """One row per clip: where it is, the verdict, and whether it is accepted."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for record in records:
            window = record.get("window") or [None, None]
            error = record.get("error") or {}
            writer.writerow({
                "source": record.get("source"), "topic": record.get("topic", ""), "start": window[0], "end": window[1],
                "verdict": record.get("verdict"), "score": record.get("score"), "scale": record.get("scale"),
                "confidence": record.get("confidence"), "accepted": is_accepted(record, threshold),
                "frames": record.get("frames"), "error_code": error.get("code", ""), "error": error.get("message", ""),
                "model": record.get("model"), "total_s": (record.get("timings") or {}).get("total_s"),
                "key": record.get("key")})


def _label(record: dict[str, Any]) -> str:
    window = record.get("window")
    name = os.path.basename(str(record.get("source", "")).rstrip("/"))
    topic = f" {record['topic']}" if record.get("topic") else ""
    return f"{name}{topic} [{window[0]:.1f}-{window[1]:.1f} s]" if window else f"{name}{topic}"


def summary_text(records: list[dict[str, Any]], threshold: float | None, rejected_limit: int = 10) -> str:
    """One screen: counts, the score histogram, errors by code and the rejected clips."""
    errors = Counter(r["error"]["code"] for r in records if r.get("error"))
    judged = [r for r in records if not r.get("error")]
    verdicts = Counter(r.get("verdict") for r in judged)
    accepted = sum(1 for r in judged if is_accepted(r, threshold))
    rule = f"score >= {threshold:g}" if threshold is not None else "verdict plausible"
    lines = [f"clips {len(records)}: judged {len(judged)} (plausible {verdicts.get('plausible', 0)}, implausible "
             f"{verdicts.get('implausible', 0)}), errors {sum(errors.values())}",
             f"accepted ({rule}) {accepted}, rejected {len(judged) - accepted}"]
    scores = Counter(round(float(r["score"]), 2) for r in judged if isinstance(r.get("score"), (int, float))
                     and r["score"] >= 0)
    if scores:
        scale = next((r.get("scale") for r in judged if r.get("scale")), "")
        lines.append(f"score histogram ({scale}):")
        width = max(scores.values())
        for score in sorted(scores):
            bar = "#" * max(1, round(30 * scores[score] / width))
            lines.append(f"  {score:>5g} | {bar} {scores[score]}")
    if errors:
        lines.append("errors: " + ", ".join(f"{code} {count}" for code, count in sorted(errors.items())))
    rejected = [r for r in records if not is_accepted(r, threshold)]
    if rejected:
        first = f", first {rejected_limit}" if len(rejected) > rejected_limit else ""
        lines.append(f"rejected ({len(rejected)}{first}):")
        for record in rejected[:rejected_limit]:
            why = (record["error"]["code"] if record.get("error")
                   else f"{record.get('verdict')} score {record.get('score')}")
            lines.append(f"  {_label(record)}: {why}")
    return "\n".join(lines)

