"""The real `ros2` command line as a user types it: every command a subprocess of the installed ros2cli kit
(``../shared/ros2cli``, installed into the venv by scripts/setup.sh, its overlay sourced by scripts/env.sh).

``ros2(...)`` runs a command to its end; ``Ros2Process`` is one that keeps running (``ros2 launch``,
``ros2 action send_goal``, ``ros2 run``) in its own process group, as in a terminal, with its output collected
as it comes and ``interrupt()`` for Ctrl-C. Waits poll a condition up to a deadline; none is a fixed sleep.
The environment (ROS_DOMAIN_ID from scripts/test.sh, the venv, the install space) is inherited.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import pytest

from helpers.tools import StreamReader

#: What the command line needs: the ``ros2`` entry point, launch, launch_ros, ``ros2 launch`` and the interfaces
#: launch_ros imports (composition_interfaces, from the kit's overlay).
CLI_MODULES = ("ros2cli", "launch", "launch_ros", "ros2launch", "composition_interfaces")

T = TypeVar("T")

#: `ros2 launch` of the package's launch file, before its arguments.
LAUNCH = ("launch", "cosmos_reason_ros", "reasoner.launch.py")
#: The issue's promise for Ctrl-C: the launch (the reasoner with it) has ended this many seconds after it.
EXIT_WITHIN = 5.0
#: The reasoner's line "model '<path>' ready in 4.2 s": loaded and warmed up; goals are served from now.
MODEL_READY = r"model '[^']+' ready in"


def launch_file() -> Path:
    """The installed launch file (what `ros2 launch cosmos_reason_ros reasoner.launch.py` runs)."""
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("cosmos_reason_ros")) / "launch" / "reasoner.launch.py"


def load_launch_module() -> ModuleType:
    """The installed launch file as a module: its helpers (parse_cameras, rviz_available, ...) import without
    launch/launch_ros."""
    spec = importlib.util.spec_from_file_location("reasoner_launch", launch_file())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def missing_reason() -> str | None:
    """Why the `ros2` command line cannot run here, or None where it can."""
    if shutil.which("ros2") is None:
        return ("no `ros2` command: the package registry has none; scripts/setup.sh installs it from "
                "../shared/ros2cli where that kit exists, and scripts/env.sh puts it on PATH")
    absent = [name for name in CLI_MODULES if importlib.util.find_spec(name) is None]
    if absent:
        return (f"`ros2` is on PATH but {', '.join(absent)} cannot be imported: source scripts/env.sh "
                "(it sources the kit's overlay, .venv/ros2cli-overlay/setup.bash)")
    return None


#: Skips a test (or a module, as ``pytestmark``) with the reason where the command line is missing.
requires_ros2 = pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or "")


def ros2(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """``ros2 <args>`` run to its end; stdout and stderr kept apart (``ros2 param set`` reports a refusal on
    stderr with exit status 0, as upstream does)."""
    return subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=timeout)


def wait_until(probe: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Call ``probe`` until it returns something true (returned) or ``timeout`` s pass (the test fails, naming
    ``what`` and the last value probed)."""
    end = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last: {value!r}")
        time.sleep(interval)


def node_names() -> list[str]:
    """``ros2 node list``: the fully qualified names of the nodes in the graph."""
    return ros2("node", "list").stdout.split()


class Ros2Process:
    """``ros2 <args>`` started in a new session (its own process group, like a terminal's foreground job),
    stdout and stderr merged and collected while it runs. A context manager: leaving it interrupts the group
    (then kills it if it has not ended within 10 s), so nothing outlives a failed test."""

    def __init__(self, *args: str) -> None:
        self.command = ["ros2", *args]
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self._output = StreamReader(self.process.stdout)

    @property
    def output(self) -> str:
        return self._output.text

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """The first match of the regular expression ``pattern`` in the output, waiting up to ``timeout`` s.
        Fails at once when the process ended without printing it."""
        end = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.output)
            if found:
                return found
            if not self.running():
                found = re.search(pattern, self._output.join())
                if found:
                    return found
                pytest.fail(f"`{' '.join(self.command)}` exited ({self.process.returncode}) without printing "
                            f"{pattern!r}:\n{self.output[-4000:]}")
            if time.monotonic() > end:
                pytest.fail(f"`{' '.join(self.command)}` printed no {pattern!r} within {timeout:.0f} s:\n"
                            f"{self.output[-4000:]}")
            time.sleep(0.05)

    def interrupt(self) -> None:
        """Ctrl-C in the terminal: SIGINT to every process of the group."""
        self._signal_group(signal.SIGINT)

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if the process still runs after ``timeout`` s."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def finish(self, timeout: float = 10.0) -> str:
        """Wait for the process to end by itself (failing the test if it does not); its whole output."""
        if self.wait(timeout) is None:
            pytest.fail(f"`{' '.join(self.command)}` still runs {timeout:.0f} s on:\n{self.output[-4000:]}")
        return self._output.join()

    def close(self) -> None:
        if self.running():
            self.interrupt()
            if self.wait(10.0) is None:
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=10.0)
        else:  # the leader ended: make sure nothing it started (a launched node) lingers
            self._signal_group(signal.SIGKILL)
        self._output.join()

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:  # the whole group has ended
            pass

    def __enter__(self) -> Ros2Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def assert_clean_exit(launch: Ros2Process) -> str:
    """Ctrl-C to a ``ros2 launch``: it ends within EXIT_WITHIN s with status 0, the reasoner finishing cleanly,
    no traceback in the output (returned)."""
    signalled = time.monotonic()
    launch.interrupt()
    status = launch.wait(EXIT_WITHIN)
    took = time.monotonic() - signalled
    output = launch.finish()
    assert status is not None, f"the launch still runs {EXIT_WITHIN} s after Ctrl-C:\n{output[-4000:]}"
    assert status == 0, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    assert re.search(r"\[reasoner(_lifecycle)?-1\]: process has finished cleanly", output), output[-4000:]
    print(f"launch ended {took:.2f} s after Ctrl-C")
    return output
