"""How an answer is parsed: model output → reasoning, answer blocks, repaired JSON, typed plan fields."""
