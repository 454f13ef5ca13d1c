"""How a goal runs: the ~/reason action, turn-taking on the model (slots), feedback, error codes."""
