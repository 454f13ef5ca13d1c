"""Model backends (transformers here, or an OpenAI-compatible server), model families, streaming, load faults."""
