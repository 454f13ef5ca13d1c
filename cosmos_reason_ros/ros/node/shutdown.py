"""An orderly end for the reasoner processes on SIGINT / SIGTERM (once or twice, to the process or its group).

rclpy's own signal handler shuts the context down at once: publishers and the action server become
invalid under running goals, clients never get a result and tracebacks follow. Here rclpy is initialised
without its handlers (``SignalHandlerOptions.NO``; on an rclpy that lacks the option they are
uninstalled) and the process takes the signals itself. The executor spins on a worker thread; the main
thread waits for a signal, then:

1. stops accepting goals and ends every running and queued goal with SHUTDOWN, each result handed to
   the action server (sent to the clients waiting for it) before anything is destroyed;
2. shuts the executor down, destroys the node (cameras, model, loader), shuts rclpy down; exit status 0.

A second signal during step 1 cuts the waits short; the process still ends cleanly.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

#: Executor threads: the running goal, services, timers, cancel requests, goals ending while queued.
EXECUTOR_THREADS = 8
#: s the goals get to end and their results to go out after the first signal.
GOALS_GRACE = 1.5
#: s the executor keeps spinning after the results were handed over, before anything is destroyed: the
#: middleware sends them from its own threads, and a writer deleted at once drops what it still holds.
RESULTS_LINGER = 0.3
#: s for the executor to finish its callbacks.
EXECUTOR_GRACE = 1.0


class ShutdownRequest:
    """Set by SIGINT/SIGTERM; ``urgent`` after the second one."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.urgent = threading.Event()
        self.signals: list[int] = []

    def __call__(self, signum: int, _frame: Any) -> None:
        self.signals.append(signum)
        (self.urgent if self.requested.is_set() else self.requested).set()


def init_rclpy(args: list[str] | None) -> None:
    """rclpy.init without rclpy's signal handlers (the process handles SIGINT/SIGTERM itself)."""
    try:
        from rclpy.signals import SignalHandlerOptions

        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except (ImportError, TypeError):  # an rclpy without the option: take the handlers out afterwards
        rclpy.init(args=args)
        uninstall = getattr(getattr(rclpy, "signals", None), "uninstall_signal_handlers", None)
        if uninstall is not None:
            uninstall()


def install_handlers(request: ShutdownRequest) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to ``request``; returns a function restoring the previous handlers."""
    previous = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def run_node(make_node: Callable[[], Any], args: list[str] | None = None,
             after_start: Callable[[Any], None] | None = None, exit_process: bool = False) -> int:
    """Create the node, spin it until SIGINT/SIGTERM, then shut down in order. Returns the exit status.

    ``make_node()`` builds a node with ``shutdown(wait)`` (end all goals; True if they ended) and
    ``destroy_node()``; ``after_start(node)`` runs once the executor spins (the lifecycle autostart).
    ``exit_process``: once everything is torn down, end the process at once (``os._exit`` after flushing
    the output) instead of returning: the interpreter's own finalisation of torch, transformers and the
    middleware took another 1.6 s here, past the 2 s a supervisor (launch, systemd) is promised.
    """
    status = _run(make_node, args, after_start)
    if exit_process:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)
    return status


def _run(make_node: Callable[[], Any], args: list[str] | None,
         after_start: Callable[[Any], None] | None) -> int:
    from cosmos_reason_ros.ros.node.process_memory import tune_malloc

    tune_malloc()  # before the threads start: flat memory over long runs (see process_memory)
    request = ShutdownRequest()
    install_handlers(request)  # before anything slow: a signal during start-up is honoured too (kept to the end)
    init_rclpy(args if args is not None else sys.argv)
    node = None
    executor: MultiThreadedExecutor | None = None
    try:
        node = make_node()
        executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS)
        executor.add_node(node)
        spinner = threading.Thread(target=_spin, args=(executor,), name="executor", daemon=True)
        spinner.start()
        if after_start is not None and not request.requested.is_set():
            after_start(node)
        while not request.requested.wait(0.2):
            if not spinner.is_alive():  # the executor ended by itself (context shut down elsewhere)
                break
        began = time.monotonic()
        names = ", ".join(signal.Signals(n).name for n in request.signals) or "executor ended"
        log = node.get_logger()
        log.info(f"shutting down ({names}): ending goals")
        ended = node.shutdown(wait=0.2 if request.urgent.is_set() else GOALS_GRACE)
        time.sleep(RESULTS_LINGER)
        log.info(f"goals {'ended, results sent' if ended else 'did not all end in time'} after "
                 f"{time.monotonic() - began:.2f} s; tearing down")
        return 0
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=EXECUTOR_GRACE)
        if node is not None:
            node.destroy_node()
        if hasattr(rclpy, "try_shutdown"):
            rclpy.try_shutdown()
        elif rclpy.ok():
            rclpy.shutdown()


def _spin(executor: MultiThreadedExecutor) -> None:
    try:
        executor.spin()
    except ExternalShutdownException:  # the context was shut down under the spin (Humble has it too)
        pass
