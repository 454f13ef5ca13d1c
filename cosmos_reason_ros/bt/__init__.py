"""Behaviour-tree nodes for the reasoner (py_trees); see docs/behavior-trees.md."""
from .behaviours import SUCCEED_ON, IterateSubtasks, ReasonAboutTask

__all__ = ["SUCCEED_ON", "IterateSubtasks", "ReasonAboutTask"]
