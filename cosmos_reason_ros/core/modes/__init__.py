"""What each mode asks and how it judges: prompts, the plausibility critic, standing-watch state machines."""
