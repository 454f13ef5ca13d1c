"""Token streaming and stopping for ``transformers`` generation.

``generate`` calls a streamer with every new token and asks its stopping criteria after every decoding
step; both run on the generation thread between steps, so they must stay cheap: no host syncs beyond the
token ids the streamer already receives, no decoding of the whole text per token.
"""
from __future__ import annotations

import time
from typing import cast

import torch
from transformers import StoppingCriteria
from transformers.generation.streamers import BaseStreamer

from cosmos_reason_ros.core.models.backend import GenerationRequest, StreamEvent

#: Decoded text ending in this character means a multi-byte character is not complete yet.
_INCOMPLETE = "\ufffd"


class IncrementalDecoder:
    """Turn a growing list of token ids into text deltas in O(1) amortised work per token.

    Decoding only a short window of recent ids keeps byte-level BPE merges and multi-byte characters
    right without re-decoding everything generated so far.
    """

    def __init__(self, tokenizer, skip_special_tokens: bool = True, opener: str = "") -> None:
        self._tokenizer = tokenizer
        self._skip = skip_special_tokens
        self.ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0
        self.text = opener  # what the chat template already wrote of the answer ("<think>\n"), then the tokens

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=self._skip, clean_up_tokenization_spaces=False)

    def push(self, token_ids: list[int]) -> str:
        """Add tokens and return the newly completed text ("" if a character is still incomplete)."""
        self.ids.extend(token_ids)
        prefix = self._decode(self.ids[self._prefix_offset:self._read_offset])
        full = self._decode(self.ids[self._prefix_offset:])
        if len(full) > len(prefix) and not full.endswith(_INCOMPLETE):
            delta = full[len(prefix):]
            self._prefix_offset = self._read_offset
            self._read_offset = len(self.ids)
            self.text += delta
            return delta
        return ""


class CallbackStreamer(BaseStreamer):
    """Receives generated token ids from ``generate`` and reports text and timing.

    ``generate`` first passes the prompt ids; they are skipped. Time to first token is taken when the
    first generated token arrives. ``opener``: the start of the answer the chat template wrote (``<think>``),
    reported with the first token as if generated, so the text reads as the model's whole turn.
    """

    def __init__(self, tokenizer, request: GenerationRequest, started: float, opener: str = "") -> None:
        self._decoder = IncrementalDecoder(tokenizer, opener=opener)
        self._opener = opener
        self._request = request
        self._started = started
        self._prompt_seen = False
        self.tokens = 0
        self.first_token_time: float | None = None
        self.last_token_time: float | None = None
        self.last_token_id: int | None = None

    @property
    def text(self) -> str:
        return self._decoder.text

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        now = time.monotonic()
        ids = value.reshape(-1).tolist()
        if not ids:
            return
        if self.first_token_time is None:
            self.first_token_time = now
        self.last_token_time = now
        self.tokens += len(ids)
        self.last_token_id = ids[-1]
        delta = self._decoder.push(ids)
        if self._opener:
            delta, self._opener = self._opener + delta, ""
        if self._request.on_stream is not None:
            self._request.on_stream(StreamEvent(self.tokens, delta, self._decoder.text, now - self._started))

    def end(self) -> None:
        """Nothing to flush: the decoder emits text as soon as it is complete."""


class RequestStoppingCriteria(StoppingCriteria):
    """Stops generation between decoding steps when the request is canceled or past its deadline."""

    def __init__(self, request: GenerationRequest) -> None:
        self._request = request
        self.reason: str | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        reason = self._request.stop_reason()
        if reason is not None:
            self.reason = reason
        stop = torch.full((input_ids.shape[0],), reason is not None, dtype=torch.bool, device=input_ids.device)
        return cast(torch.BoolTensor, stop)  # a bool tensor: what transformers' signature calls a BoolTensor
