"""Behaviour-tree nodes for the reasoner (py_trees); see docs/behavior-trees.md."""
from cosmos_reason_ros.bt.behaviours import SUCCEED_ON, IterateSubtasks, ReasonAboutTask
from cosmos_reason_ros.bt.plan_executor import OUTCOMES, PlanExecutor, arguments_of
from cosmos_reason_ros.bt.watch_condition import WATCH_SUCCEED_ON, WatchCondition

__all__ = ["OUTCOMES", "SUCCEED_ON", "IterateSubtasks", "PlanExecutor", "ReasonAboutTask", "WATCH_SUCCEED_ON",
           "WatchCondition", "arguments_of"]
