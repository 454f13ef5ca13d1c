"""How the test and benchmark publisher processes are told to stop: a line "stop" (or end of file) on stdin,
or a time limit, whichever comes first (so a publisher never outlives a test that died)."""
from __future__ import annotations

import sys
import threading


def stop_on_stdin(max_seconds: float) -> threading.Event:
    """An event set when stdin says "stop" or closes, or ``max_seconds`` pass."""
    stop = threading.Event()

    def wait_for_stop() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    deadline = threading.Timer(max_seconds, stop.set)
    deadline.daemon = True
    deadline.start()
    return stop
