"""One-token yes/no answers, and one prefill of a shared prompt prefix for several questions.

A watch check without reasoning reads its answer from the first generated token: the probability mass of the
tokenizer's spellings of "yes" against that of "no" (``AnswerTokens``, worked out once per tokenizer). Several
questions about the same frames share everything before the question (system text, the video, the watch
instruction): the key/value cache of that prefix is computed once (``SharedPrefill``) and each question
continues from its own copy of it, so N watches cost one prefill of the video plus N short continuations.

Continuing from a cache needs the right positions after the visual tokens. The Qwen-VL and Cosmos 3 models
keep the M-RoPE offset of the prefix (``rope_deltas``) on the model after a forward pass that saw the video,
and give later tokens ``position + rope_deltas``: exactly the positions a full forward gives text after the
last visual token. ``SharedPrefill.continue_with`` passes nothing that would make the model recompute them.
test/core/models/test_prefix.py checks, for every tiny family, that the first-token logits after a
continuation equal those of a full forward of prefix + question.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Spellings of the answer words a model may start its answer with; those the tokenizer writes as ONE token
#: are summed (a spelling split into pieces, "y" + "es", is ambiguous at its first token and is left out).
YES_SPELLINGS = ("yes", "Yes", "YES", " yes", " Yes", " YES")
NO_SPELLINGS = ("no", "No", "NO", " no", " No", " NO")
#: Inputs cut at the prefix boundary (the rest: pixel values and grids, given whole to the prefill).
_PER_TOKEN_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


@dataclass(frozen=True)
class AnswerTokens:
    """Token ids whose first-token probability counts as "yes" and as "no"."""

    yes: tuple[int, ...]
    no: tuple[int, ...]

    @property
    def usable(self) -> bool:
        """Whether both answers have at least one single-token spelling (else: read generated text)."""
        return bool(self.yes) and bool(self.no)


def answer_tokens(tokenizer: Any) -> AnswerTokens:
    """The single-token spellings of yes and no in ``tokenizer`` (called once, when the model is adopted)."""
    def single(spellings: Sequence[str]) -> tuple[int, ...]:
        ids: list[int] = []
        for spelling in spellings:
            encoded = tokenizer.encode(spelling, add_special_tokens=False)
            if len(encoded) == 1 and encoded[0] not in ids:
                ids.append(int(encoded[0]))
        return tuple(ids)

    yes, no = single(YES_SPELLINGS), single(NO_SPELLINGS)
    return AnswerTokens(yes=tuple(i for i in yes if i not in no), no=tuple(i for i in no if i not in yes))


def yes_no_mass(logits: Any, tokens: AnswerTokens) -> tuple[float, float]:
    """(P(yes), P(no)) from the last position's logits (float32 softmax over the whole vocabulary)."""
    import torch

    probs = torch.softmax(logits.reshape(-1, logits.shape[-1])[-1].float(), dim=-1)
    return float(probs[list(tokens.yes)].sum()), float(probs[list(tokens.no)].sum())


def suffix_start(full_ids: Sequence[int], suffix_ids: Sequence[int]) -> int | None:
    """Where ``suffix_ids`` starts when ``full_ids`` ends with it (the tokens did not merge across the cut)."""
    n = len(suffix_ids)
    if n == 0 or n >= len(full_ids) or list(full_ids[-n:]) != list(suffix_ids):
        return None
    return len(full_ids) - n


def last_logits(model: Any, inputs: dict[str, Any]) -> Any:
    """The logits of the next token after the whole of ``inputs`` (one full forward, no cache kept)."""
    return model(**inputs, use_cache=False, logits_to_keep=1).logits[:, -1]


class SharedPrefill:
    """The key/value cache of a prompt prefix (everything the questions share, the media included), computed
    once; ``continue_with`` runs one question's remaining tokens from a copy of it."""

    def __init__(self, model: Any, inputs: dict[str, Any], length: int) -> None:
        """``inputs``: one question's whole model inputs; ``length``: tokens of it the questions share."""
        from transformers import DynamicCache

        self._model = model
        self.length = length
        prefix = {key: (value[:, :length] if key in _PER_TOKEN_KEYS else value) for key, value in inputs.items()}
        out = model(**prefix, past_key_values=DynamicCache(config=model.config), use_cache=True, logits_to_keep=1)
        self._cache = out.past_key_values
        self._device = inputs["input_ids"].device

    def continue_with(self, suffix_ids: Sequence[int]) -> Any:
        """The next-token logits after the prefix followed by ``suffix_ids`` (the shared cache is left as it was)."""
        import torch

        ids = torch.tensor([list(suffix_ids)], dtype=torch.long, device=self._device)
        cache = copy.deepcopy(self._cache)
        return self._model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1]
