"""What the node publishes for planners and people: plan topics, rviz markers, the annotated image."""
