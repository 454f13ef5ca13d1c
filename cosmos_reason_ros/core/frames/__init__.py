"""How a frame becomes model input: the ring buffer, cheap header checks, and clips within a visual-token budget."""
