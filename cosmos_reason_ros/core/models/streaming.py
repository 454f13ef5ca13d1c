"""Token streaming and stopping for ``transformers`` generation.

``generate`` calls a streamer with every new token and asks its stopping criteria after every decoding
step; both run on the generation thread between steps, so they must stay cheap: no host syncs beyond the
token ids the streamer already receives, no decoding of the whole text per token.

The streamer detokenises in batches (``STREAM_BATCH_TOKENS`` tokens, or ``STREAM_BATCH_SECONDS`` after the
last report, whichever comes first) and reports one ``StreamEvent`` per batch: the work per report (two short
decodes, the event, the reasoner's progress, the goal's feedback throttle) is then shared by the batch. The
first token, the token that ends the reasoning (``</think>``, so the stage switch is seen at once) and the end
of generation are reported at once. The text is the same whatever the batching: decoding a run of ids at once
gives what decoding them one by one and joining gives (``IncrementalDecoder`` keeps the window of ids that a
byte-level BPE merge or a multi-byte character may span). Cancel and deadline do not wait for a report: the
stopping criteria check them after every step.
"""
from __future__ import annotations

import time
from typing import cast

import torch
from transformers import StoppingCriteria
from transformers.generation.streamers import BaseStreamer

from cosmos_reason_ros.core.models.backend import GenerationRequest, StreamEvent
from cosmos_reason_ros.core.models.families import THINK_CLOSE

#: Decoded text ending in this character means a multi-byte character is not complete yet.
_INCOMPLETE = "\ufffd"
#: Tokens of a batch at most held back to find the end of its last complete character (a UTF-8 character spans
#: at most four bytes, so at most three tokens of a byte-level vocabulary end inside one).
_HELD_BACK = 3
#: Tokens detokenised and reported together (1 = one report per token, the path before batching).
STREAM_BATCH_TOKENS = 16
#: s after the last report at which the waiting tokens are reported anyway (feedback stays live on a slow model).
STREAM_BATCH_SECONDS = 0.05


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
        """Add tokens and return the newly completed text ("" if a character is still incomplete).

        A batch whose text ends inside a character is decoded without its last one, two or three tokens (a
        character is at most four bytes) and those follow one at a time; where that does not end cleanly either,
        the whole batch goes token by token. So the text before that character comes out now, and the text is
        the same however the tokens were batched: text cut after a complete character decodes the same in two
        pieces as in one."""
        if len(token_ids) == 1:
            return self._push(token_ids)
        for held in range(min(_HELD_BACK, len(token_ids) - 1) + 1):
            state = (len(self.ids), self._prefix_offset, self._read_offset, self.text)
            head = token_ids[:len(token_ids) - held]
            delta = self._push(head)
            if delta or self._read_offset == len(self.ids):
                return delta + "".join(self._push([token]) for token in token_ids[len(head):])
            del self.ids[state[0]:]  # ends mid-character: undo
            self._prefix_offset, self._read_offset, self.text = state[1:]
        return "".join(self._push([token]) for token in token_ids)

    def _push(self, token_ids: list[int]) -> str:
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
    """Receives generated token ids from ``generate`` and reports text and timing, in batches.

    ``generate`` first passes the prompt ids; they are skipped. Time to first token is taken when the
    first generated token arrives. ``opener``: the start of the answer the chat template wrote (``<think>``),
    reported with the first token as if generated, so the text reads as the model's whole turn.
    ``batch_tokens`` / ``batch_seconds``: when waiting tokens are reported (module defaults; 1 token = report
    every token).
    """

    def __init__(self, tokenizer, request: GenerationRequest, started: float, opener: str = "",
                 batch_tokens: int | None = None, batch_seconds: float | None = None) -> None:
        self._decoder = IncrementalDecoder(tokenizer, opener=opener)
        self._opener = opener
        self._request = request
        self._started = started
        self._prompt_seen = False
        self._batch = max(1, STREAM_BATCH_TOKENS if batch_tokens is None else batch_tokens)
        self._batch_seconds = STREAM_BATCH_SECONDS if batch_seconds is None else batch_seconds
        self._pending: list[int] = []
        self._reported_at = started
        self._urgent = _stage_token_ids(tokenizer)  # ids reported at once (the end of the reasoning)
        self.tokens = 0
        self.first_token_time: float | None = None
        self.last_token_time: float | None = None
        self.last_token_id: int | None = None

    @property
    def text(self) -> str:
        """All text so far, the tokens not yet reported included."""
        if self._pending:
            self._report(self.last_token_time or time.monotonic())
        return self._decoder.text

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        now = time.monotonic()
        ids = value.reshape(-1).tolist()
        if not ids:
            return
        self.last_token_time = now
        self.tokens += len(ids)
        self.last_token_id = ids[-1]
        self._pending.extend(ids)
        if self.first_token_time is None:
            self.first_token_time = now
            self._report(now)
        elif (len(self._pending) >= self._batch or now - self._reported_at >= self._batch_seconds
              or not self._urgent.isdisjoint(ids)):
            self._report(now)

    def _report(self, now: float) -> None:
        """Decode the waiting tokens and report them as one event."""
        ids, self._pending = self._pending, []
        self._reported_at = now
        delta = self._decoder.push(ids)
        if self._opener:
            delta, self._opener = self._opener + delta, ""
        if self._request.on_stream is not None:
            self._request.on_stream(StreamEvent(self.tokens, delta, self._decoder.text, now - self._started))

    def end(self) -> None:
        """Report the tokens still waiting (the end of generation)."""
        if self._pending:
            self._report(self.last_token_time or time.monotonic())


def _stage_token_ids(tokenizer) -> frozenset[int]:
    """Ids of the added tokens that contain ``</think>`` (Qwen's ``</think>`` is one): reported at once, so the
    stage switch is seen at the token that makes it. Read per request from the added vocabulary only (a few
    hundred entries); a ``</think>`` spelled in pieces is seen at the next report."""
    added = getattr(tokenizer, "get_added_vocab", None)
    vocabulary = added() if added is not None else {}
    return frozenset(int(i) for text, i in vocabulary.items() if THINK_CLOSE in text)


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
