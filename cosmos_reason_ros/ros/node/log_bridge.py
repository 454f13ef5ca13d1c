"""Python ``logging`` of the ROS-free core → the node's rclpy logger (and so /rosout), levels kept.

The core (``cosmos_reason_ros.core``) logs through ``logging.getLogger(__name__)``, as plain Python
code should. A node installs ``RosLogBridge`` on the package's logger; records then go to the newest
installed node's logger at the matching severity, with their traceback when they carry one. Records
below the node logger's level are filtered by ``logging`` already (the bridge sets the package
logger's level from the node's), so debug text is not even formatted unless asked for.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

PACKAGE_LOGGER = "cosmos_reason_ros"

#: rcutils severities (rclpy.logging.LoggingSeverity values) → Python levels.
_TO_PYTHON = {10: logging.DEBUG, 20: logging.INFO, 30: logging.WARNING, 40: logging.ERROR, 50: logging.CRITICAL}


class RosLogBridge(logging.Handler):
    """Forwards records to rclpy loggers; one handler per process, one entry per installed node."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._loggers: list[Any] = []
        self._guard = threading.Lock()

    def add(self, ros_logger: Any) -> None:
        with self._guard:
            self._loggers.append(ros_logger)

    def remove(self, ros_logger: Any) -> None:
        with self._guard:
            if ros_logger in self._loggers:
                self._loggers.remove(ros_logger)

    @property
    def empty(self) -> bool:
        with self._guard:
            return not self._loggers

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            target = self._loggers[-1] if self._loggers else None
        if target is None:
            return
        try:
            text = f"[{record.name}] {record.getMessage()}"
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            if record.levelno >= logging.CRITICAL:
                target.fatal(text)
            elif record.levelno >= logging.ERROR:
                target.error(text)
            elif record.levelno >= logging.WARNING:
                target.warning(text)
            elif record.levelno >= logging.INFO:
                target.info(text)
            else:
                target.debug(text)
        except Exception:  # a logging failure must never take a goal down
            self.handleError(record)


_BRIDGE = RosLogBridge()


def install(ros_logger: Any) -> None:
    """Route the package's Python logging to ``ros_logger`` (until ``uninstall``)."""
    package = logging.getLogger(PACKAGE_LOGGER)
    if _BRIDGE not in package.handlers:
        package.addHandler(_BRIDGE)
    package.propagate = False  # no second copy on stderr through the root logger
    _BRIDGE.add(ros_logger)
    try:
        level = int(ros_logger.get_effective_level())
    except Exception:
        level = 20
    package.setLevel(_TO_PYTHON.get(level, logging.INFO))


def uninstall(ros_logger: Any) -> None:
    """Stop routing to ``ros_logger``; the last node gone gives the package logger back to Python."""
    _BRIDGE.remove(ros_logger)
    if _BRIDGE.empty:
        package = logging.getLogger(PACKAGE_LOGGER)
        package.removeHandler(_BRIDGE)
        package.propagate = True
        package.setLevel(logging.NOTSET)
