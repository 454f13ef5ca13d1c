"""Several sampled sequences of one prompt in one ``generate`` call (``GenerationRequest.n`` > 1).

The critic's N-run agreement judges a clip K times: with ``num_return_sequences=K`` the prompt (and the
video) is encoded once and the K sequences decode as one batch, instead of K calls. A streamer takes one
sequence only, so there is no token stream: ``on_stream`` gets one event, with the first sequence, when all
are done. Greedy decoding would give K equal sequences: it runs once and the result is repeated.
"""
from __future__ import annotations

import time
from typing import Any

from cosmos_reason_ros.core.datatypes import GenerationOutput, GenerationStats
from cosmos_reason_ros.core.models.backend import GenerationRequest, StreamEvent


def generate_sequences(model: Any, tokenizer: Any, inputs: dict, kwargs: dict[str, Any], request: GenerationRequest,
                       visual_tokens: int, started: float, opener: str = "") -> GenerationOutput:
    """``request.n`` sequences of the prepared ``inputs``; ``kwargs`` are the backend's generation settings;
    ``opener`` the start of the answer the chat template wrote ("<think>\n"), put in front of each text."""
    import torch

    from cosmos_reason_ros.core.models.streaming import RequestStoppingCriteria

    stopping = RequestStoppingCriteria(request)
    sampled = bool(kwargs.get("do_sample", False))
    if sampled:
        kwargs = dict(kwargs, num_return_sequences=request.n)
    if request.sampling.seed is not None:
        torch.manual_seed(request.sampling.seed)
    with torch.inference_mode():
        sequences = model.generate(**inputs, **kwargs, stopping_criteria=[stopping])
    finished = time.monotonic()
    prompt_len = int(inputs["input_ids"].shape[1])
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos])
    texts, reasons, counts = [], [], []
    for row in sequences[:, prompt_len:].tolist():
        end = next((i for i, token in enumerate(row) if token in eos_ids), None)
        ids = row[: end + 1] if end is not None else row  # after an EOS come only pad tokens
        counts.append(len(ids))
        texts.append(opener + tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False))
        reasons.append(stopping.reason or ("eos" if end is not None else "max_tokens"))
    if not sampled:
        texts, reasons, counts = texts * request.n, reasons * request.n, counts * request.n
    elapsed = finished - started
    stats = GenerationStats(time_to_first_token=-1.0, generation_time=elapsed, prompt_tokens=prompt_len,
                            visual_tokens=visual_tokens, generated_tokens=max(counts),
                            tokens_per_second=sum(counts) / elapsed if elapsed > 0 else 0.0,
                            stop_reason=stopping.reason or ("eos" if set(reasons) == {"eos"} else "max_tokens"))
    if request.on_stream is not None:
        request.on_stream(StreamEvent(stats.generated_tokens, texts[0], texts[0], elapsed))
    return GenerationOutput(text=texts[0], stats=stats, texts=texts, stop_reasons=reasons)
