"""Behaviour-tree nodes for the reasoner (py_trees); see docs/behavior-trees.md."""
from .behaviours import SUCCEED_ON, IterateSubtasks, ReasonAboutTask
from .watch_condition import WATCH_SUCCEED_ON, WatchCondition  # standing watches (issue 16)

__all__ = ["SUCCEED_ON", "IterateSubtasks", "ReasonAboutTask", "WATCH_SUCCEED_ON", "WatchCondition"]
