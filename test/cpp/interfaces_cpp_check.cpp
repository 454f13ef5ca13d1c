// Compiles and links against the generated C++ types, the way a BehaviorTree.ROS2 RosActionNode would.
// Run by test/test_interfaces.py: prints a few fields so the test can check the values crossed over.
#include <iostream>

#include "cosmos_reason_ros/action/reason_about_task.hpp"
#include "cosmos_reason_ros/msg/task_plan.hpp"

int main()
{
  using Action = cosmos_reason_ros::action::ReasonAboutTask;
  Action::Goal goal;
  goal.task = "pick up the red cup";
  goal.mode = Action::Goal::MODE_FEASIBILITY;

  Action::Result result;
  result.error_code = Action::Result::OUT_OF_MEMORY;
  cosmos_reason_ros::msg::Subtask step;
  step.index = 0;
  step.action = "pick";
  step.target_objects.push_back("red cup");
  result.plan.subtasks.push_back(step);
  result.plan.feasibility.verdict = cosmos_reason_ros::msg::FeasibilityJudgment::VERDICT_INFEASIBLE;
  result.plan.feasibility.confidence = cosmos_reason_ros::msg::FeasibilityJudgment::CONFIDENCE_UNKNOWN;

  Action::Feedback feedback;
  feedback.stage = Action::Feedback::STAGE_THINKING;

  std::cout << "mode=" << static_cast<int>(goal.mode)
            << " return_reasoning=" << goal.return_reasoning
            << " error_code=" << result.error_code
            << " verdict=" << static_cast<int>(result.plan.feasibility.verdict)
            << " confidence=" << result.plan.feasibility.confidence
            << " stage=" << static_cast<int>(feedback.stage)
            << " step=" << result.plan.subtasks.at(0).action << ":" << result.plan.subtasks.at(0).target_objects.at(0)
            << std::endl;
  return 0;
}
