"""Run Cosmos Reason on a shared model server through its OpenAI-compatible API (vLLM, NVIDIA NIM,
``transformers serve``), so a robot sends its frames to one GPU server instead of loading the model.

Prompt, sampling and parsing are the core's, as with the local backend; only the transport differs. Frames
are JPEG-encoded once per request and sent inline as data URLs, so the server needs no access to the
robot's files. Requests stream; chain of thought that a server moved into ``reasoning_content`` or
``reasoning`` is folded back as ``<think>...</think>`` so the parser sees the same text as locally.

The ``openai`` client runs on an event loop thread owned by the backend. Each request's coroutine watches
the cancel event and deadline even while no chunk arrives (the server may still be reading the video),
and closing the stream tells the server to stop generating. Stream callbacks run on the caller's thread.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx2
import openai

from cosmos_reason_ros.core.datatypes import GenerationOutput, GenerationStats
from cosmos_reason_ros.core.errors import (
    BackendUnavailableError,
    ModelError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotReadyError,
    ReasonerError,
)
from cosmos_reason_ros.core.models.backend import (
    BackendState,
    GenerationRequest,
    ModelBackend,
    ProgressCallback,
    SamplingParams,
    StreamEvent,
    YesNoOutput,
    YesNoRequest,
    YesNoScore,
    first_word_answer,
)
from cosmos_reason_ros.core.models.families import (
    COSMOS3,
    THINK_CLOSE,
    THINK_OPEN,
    ModelFamily,
    family_for_model_type,
    family_from_name,
)
from cosmos_reason_ros.core.models.openai_request import (  # noqa: F401 (OpenAIConfig re-exported)
    JPEG_QUALITY_RANGE,
    MEDIA,
    SERVERS,
    OpenAIConfig,
    request_fields,
)

_LOG = logging.getLogger(__name__)

_WATCH_PERIOD = 0.05  # s between looks at a waiting request's cancel event and deadline
_DETAIL_CHARS = 300  # longest server error text quoted in an exception
#: Sampling fields outside the OpenAI schema: vLLM and NIM take them, ``transformers serve`` answers 422.
_EXTRA_SAMPLING_FIELDS = ("top_k", "repetition_penalty", "ignore_eos", "mm_processor_kwargs", "media_io_kwargs",
                          "chat_template_kwargs")
#: Alternatives of the first token asked for in a one-token yes/no check (OpenAI's and vLLM's default limit).
YES_NO_TOP_LOGPROBS = 20

_T = TypeVar("_T")


def _detail(error: Exception) -> str:
    """The server's own words about an error, shortened."""
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        body = next((body[key] for key in ("message", "detail", "error") if body.get(key)), None)
    return str(body or error)[:_DETAIL_CHARS]


class _Run:
    """One streamed generation: text folded into the local backend's format, timing, and events to deliver."""

    def __init__(self, request: GenerationRequest, started: float) -> None:
        self.request = request
        self.started = started
        self.events: queue.SimpleQueue[StreamEvent | None] = queue.SimpleQueue()  # None ends the request
        self.text = ""
        self.chunks = 0
        self.first: float | None = None
        self.last: float | None = None
        self.usage: Any = None
        self.finish: str | None = None
        self.stop_reason: str | None = None
        self._thinking = False
        self.others: dict[int, list] = {}  # sequence index > 0 → [text, thinking, finish_reason]
        self.first_logprobs: dict[str, float] | None = None  # the first token's top alternatives → log probability

    def _add_other(self, index: int, choice: Any) -> None:
        state = self.others.setdefault(index, ["", False, None])
        piece, state[1] = _fold(choice.delta, state[1])
        state[0] += piece
        state[2] = choice.finish_reason or state[2]

    def add(self, chunk: Any) -> None:
        if chunk.usage is not None:
            self.usage = chunk.usage
            if self.first is not None and chunk.usage.completion_tokens != self.chunks:
                # Chunks are not tokens: restate progress in the server's own token count.
                self.events.put(StreamEvent(int(chunk.usage.completion_tokens), "", self.text,
                                            time.monotonic() - self.started))
        if not chunk.choices:
            return
        for other in chunk.choices:  # n > 1: the other sequences are folded too, but not streamed
            index = getattr(other, "index", 0) or 0
            if index:
                self._add_other(index, other)
        choice = next((c for c in chunk.choices if not getattr(c, "index", 0)), None)
        if choice is None:
            return
        if self.first_logprobs is None:
            self._read_logprobs(choice)
        delta = choice.delta
        piece, self._thinking = _fold(delta, self._thinking)
        self.finish = choice.finish_reason or self.finish
        if piece:
            now = time.monotonic()
            self.first, self.last = self.first or now, now
            self.chunks += 1
            self.text += piece
            self.events.put(StreamEvent(self.chunks, piece, self.text, now - self.started))

    def _read_logprobs(self, choice: Any) -> None:
        """The first generated token's top alternatives, when the server sent them (``logprobs`` asked for)."""
        content = getattr(getattr(choice, "logprobs", None), "content", None)
        if not content:
            return
        first = content[0]
        alternatives = {str(t.token): float(t.logprob) for t in (getattr(first, "top_logprobs", None) or [])}
        alternatives.setdefault(str(first.token), float(first.logprob))
        self.first_logprobs = alternatives

    def output(self) -> GenerationOutput:
        """What was generated so far; tokens from the server's usage report if it sent one, else chunks."""
        finished = time.monotonic()
        tokens = int(self.usage.completion_tokens) if self.usage is not None else self.chunks
        decode_time = (self.last or finished) - (self.first or finished)
        stats = GenerationStats(
            time_to_first_token=(self.first - self.started) if self.first else -1.0,
            generation_time=finished - self.started,
            prompt_tokens=int(self.usage.prompt_tokens) if self.usage is not None else 0,
            visual_tokens=sum(clip.visual_tokens for clip in self.request.prompt.clips),
            generated_tokens=tokens,
            tokens_per_second=(tokens - 1) / decode_time if tokens > 1 and decode_time > 0 else 0.0,
            stop_reason=self.stop_reason or ("max_tokens" if self.finish == "length" else "eos"),
        )
        if self.request.n <= 1:
            return GenerationOutput(text=self.text, stats=stats)
        states = [[self.text, False, self.finish]] + [self.others.get(i, ["", False, None])
                                                    for i in range(1, self.request.n)]
        reasons = [self.stop_reason or ("max_tokens" if finish == "length" else "eos" if finish else "max_tokens")
                   for _, _, finish in states]
        return GenerationOutput(text=self.text, stats=stats, texts=[text for text, _, _ in states],
                                stop_reasons=reasons)


def _score(alternatives: dict[str, float] | None, output: GenerationOutput) -> YesNoScore:
    """A one-token check's score from the first token's alternatives, or from the generated word without them."""
    if alternatives is None:
        word = first_word_answer(output.text)
        return YesNoScore(float(word == "yes"), float(word == "no"), output.stats.generated_tokens, output.text,
                          from_text=True)
    mass = {"yes": 0.0, "no": 0.0}
    for token, logprob in alternatives.items():
        word = token.strip().lower()
        if word in mass:
            mass[word] += math.exp(logprob)
    return YesNoScore(min(1.0, mass["yes"]), min(1.0, mass["no"]), output.stats.generated_tokens, output.text)


def _fold(delta: Any, thinking: bool) -> tuple[str, bool]:
    """One delta in the local backend's format (reasoning inside <think>...</think>), and whether the
    sequence is still thinking after it."""
    reasoning = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
    piece = ""
    if reasoning:
        piece = reasoning if thinking else THINK_OPEN + reasoning
        thinking = True
    if delta.content:
        piece += (THINK_CLOSE if thinking else "") + delta.content
        thinking = False
    return piece, thinking


class OpenAIBackend(ModelBackend):
    """Cosmos Reason1/2 on a remote OpenAI-compatible server."""

    def __init__(self, config: OpenAIConfig) -> None:
        super().__init__()
        self.config = config
        self._client: openai.AsyncOpenAI | None = None
        self._secret = ""
        self._auth_headers: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._send_extra_sampling = True
        self._warned_ignores_n = False  # logged once: the server streamed fewer sequences than n

    @property
    def model_id(self) -> str:
        return self.config.model

    @property
    def frames_as_images(self) -> bool:
        return self.config.media == "images"

    # ----------------------------------------------------------------------------------------- loading
    def load(self, progress: ProgressCallback | None = None) -> None:
        """Connect and check that the server serves ``model``; raises BackendUnavailableError or ModelLoadError."""
        report = progress or (lambda message: None)
        self.state = BackendState.LOADING
        self.load_error = None
        try:
            family = self._family()
            self._connect()
            report(f"asking {self.config.base_url} for model {self.config.model!r}")
            self._call(self._check_served())
        except ReasonerError as e:
            self.state, self.load_error = BackendState.FAILED, e.message
            raise
        except Exception as e:  # a malformed base_url and the like: one clear error, cause chained
            self.state, self.load_error = BackendState.FAILED, self._redact(f"{type(e).__name__}: {e}")
            raise ModelLoadError(f"connecting to {self.config.base_url} failed: {self.load_error}") from e
        self.family, self.state = family, BackendState.READY
        report(f"{self.config.base_url} serves {self.config.model!r} ({family.name} prompts)")

    def _family(self) -> ModelFamily:
        """Check the config and pick the prompt family (the server cannot tell which one it runs)."""
        c = self.config
        if c.media not in MEDIA:
            raise ModelLoadError(f"invalid media {c.media!r}: choose one of {', '.join(MEDIA)}")
        if c.server not in SERVERS:
            raise ModelLoadError(f"invalid server {c.server!r}: choose one of {', '.join(SERVERS)}")
        low, high = JPEG_QUALITY_RANGE
        if not low <= c.jpeg_quality <= high:
            raise ModelLoadError(f"jpeg_quality must be in {low}..{high}, got {c.jpeg_quality}")
        if min(c.request_timeout, c.connect_timeout) <= 0 or c.retries < 0 or c.retry_backoff < 0:
            raise ModelLoadError("timeouts must be > 0; retries and retry_backoff >= 0")
        hint = family_from_name(c.model)
        if c.model_family == "auto":
            if hint is None:
                _LOG.warning("model name %r names no family; using %s prompts (set model_family)", c.model,
                             COSMOS3.name)
            return hint or COSMOS3
        family = family_for_model_type("", c.model_family)
        if hint is not None and hint is not family:
            _LOG.warning("model_family is %s but the served name %r suggests %s", family.name, c.model, hint.name)
        return family

    def _connect(self) -> None:
        """Start the loop thread and a client. The key is read from the environment now, never from config."""
        self._shutdown()
        self._secret = os.environ.get(self.config.api_key_env, "").strip() if self.config.api_key_env else ""
        # The client insists on a key; without one, every request drops the Authorization header instead.
        self._auth_headers = {} if self._secret else {"Authorization": openai.Omit()}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="openai-backend", daemon=True)
        self._thread.start()
        self._client = openai.AsyncOpenAI(
            api_key=self._secret or "unused", base_url=self.config.base_url, max_retries=0,
            timeout=httpx2.Timeout(self.config.request_timeout, connect=self.config.connect_timeout),
            http_client=openai.DefaultAsyncHttpxClient(verify=self.config.verify_tls))
        _LOG.info("model server %s, model %r, %s", self.config.base_url, self.config.model,
                  f"API key from ${self.config.api_key_env}" if self._secret else "no API key")

    def _call(self, coroutine: Awaitable[_T]) -> _T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()  # type: ignore[arg-type]

    async def _check_served(self) -> None:
        """GET /models, then a one-token request if the model is not listed: servers may list only part of
        what they serve (``transformers serve`` lists its hub cache, not the local path it is pinned to)."""
        assert self._client is not None
        client, listed = self._client, []
        try:
            page = await self._retrying(lambda: client.models.list(extra_headers=self._auth_headers), None)
            listed = [m.id for m in page.data]
        except openai.APIStatusError as e:
            if e.status_code in (401, 403):
                raise self._error(e) from e
            _LOG.warning("GET /models at %s failed (HTTP %s: %s); trying a one-token request (transformers "
                         "serve answers 500 there when $HF_HOME/hub does not exist)",
                         self.config.base_url, e.status_code, self._redact(_detail(e)))
        except openai.APIError as e:
            raise self._error(e) from e
        if self.config.model in listed:
            return
        try:
            await self._retrying(lambda: client.chat.completions.create(
                model=self.config.model, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1,
                temperature=0.0, extra_headers=self._auth_headers), None)
        except openai.APIStatusError as e:
            if e.status_code not in (400, 404, 422):
                raise self._error(e) from e
            raise ModelNotFoundError(self._redact(
                f"server at {self.config.base_url} does not serve model {self.config.model!r} (HTTP "
                f"{e.status_code}: {_detail(e)}); models it lists: {', '.join(listed) or 'none'}. Set the model "
                "parameter to the served name")) from e
        except openai.APIError as e:
            raise self._error(e) from e

    # -------------------------------------------------------------------------------------- generation
    def generate(self, request: GenerationRequest) -> GenerationOutput:
        return self._generate_run(request)[1]

    def answer_yes_no(self, request: YesNoRequest) -> YesNoOutput:
        """One request per question (``max_tokens`` 1, greedy, ``top_logprobs``): P(yes) and P(no) are summed
        over the first token's alternatives whose text is a spelling of yes or no. A server that returns no
        logprobs is read by the generated word instead. The shared video is the server's to cache: vLLM's
        automatic prefix caching (on by default since V1) and NIM reuse it across the questions."""
        started = time.monotonic()
        scores: list[YesNoScore] = []
        prompt_tokens = visual = 0
        for index in range(len(request.questions)):
            if (stopped := request.stop_reason()) is not None:
                return YesNoOutput(scores, stopped, len(scores), prompt_tokens, visual, time.monotonic() - started)
            one = GenerationRequest(prompt=request.prompt_for(index), cancel=request.cancel, deadline=request.deadline,
                                    sampling=SamplingParams(temperature=0.0, top_p=1.0, repetition_penalty=1.0,
                                                            max_new_tokens=1), top_logprobs=YES_NO_TOP_LOGPROBS)
            run, output = self._generate_run(one)
            if output.stats.stop_reason in ("canceled", "deadline"):
                return YesNoOutput(scores, output.stats.stop_reason, len(scores) + 1, prompt_tokens, visual,
                                   time.monotonic() - started)
            scores.append(_score(run.first_logprobs, output))
            prompt_tokens, visual = output.stats.prompt_tokens, output.stats.visual_tokens
        return YesNoOutput(scores, None, len(scores), prompt_tokens, visual, time.monotonic() - started,
                           "one request per question (the server's prefix cache shares the video)")

    def _generate_run(self, request: GenerationRequest) -> tuple[_Run, GenerationOutput]:
        if not self.ready or self._loop is None:
            raise ModelNotReadyError(self.not_ready_message())
        run = _Run(request, time.monotonic())
        stopped = request.stop_reason()
        if stopped is not None:  # canceled or late before the server was even asked: send nothing
            return run, GenerationOutput(text="", stats=GenerationStats(stop_reason=stopped))
        fields, extra = request_fields(self.config.model, self.config.media, self.config.jpeg_quality, request,
                                       SERVERS[self.config.server])
        future = asyncio.run_coroutine_threadsafe(self._watched(run, fields, extra), self._loop)
        future.add_done_callback(lambda _: run.events.put(None))
        while (event := run.events.get()) is not None:
            if request.on_stream is not None:
                try:
                    request.on_stream(event)
                except Exception as e:
                    future.cancel()
                    raise ModelError(f"stream callback failed: {type(e).__name__}: {e}",
                                     partial=run.output()) from e
        try:
            output = future.result()
        except ReasonerError:
            raise
        except concurrent.futures.CancelledError as e:
            raise ModelError("the backend was closed while the request ran", partial=run.output()) from e
        except Exception as e:  # anything unforeseen from the client library: one error type, cause chained
            raise ModelError(f"generation failed: {type(e).__name__}: {self._redact(str(e))}") from e
        missing = [i for i in range(1, request.n) if i not in run.others]
        return run, (self._fill_missing(request, output, missing) if missing else output)

    def _fill_missing(self, request: GenerationRequest, output: GenerationOutput,
                      missing: list[int]) -> GenerationOutput:
        """A server that ignores ``n`` (it streamed fewer sequences): the missing ones, one request each."""
        if not self._warned_ignores_n:
            self._warned_ignores_n = True
            _LOG.warning("%s returned %d of %d sequences (it ignores n); asking for the others one by one",
                         self.config.base_url, request.n - len(missing), request.n)
        texts, reasons = list(output.texts), list(output.stop_reasons)
        for index in missing:
            seed = request.sampling.seed
            sampling = dataclasses.replace(request.sampling, seed=None if seed is None else seed + index)
            single = self.generate(dataclasses.replace(request, n=1, on_stream=None, sampling=sampling))
            texts[index], reasons[index] = single.text, single.stats.stop_reason
        return dataclasses.replace(output, texts=texts, stop_reasons=reasons)

    async def _watched(self, run: _Run, fields: dict[str, Any], extra: dict[str, Any]) -> GenerationOutput:
        """Run the request while watching its cancel event and deadline, also while nothing streams."""
        task = asyncio.ensure_future(self._stream(run, fields, extra))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=_WATCH_PERIOD)
                reason = run.request.stop_reason()
                if reason is not None and task.cancel():
                    run.stop_reason = reason
                    await asyncio.gather(task, return_exceptions=True)  # the stream is closed when this returns
        except asyncio.CancelledError:  # a stream callback failed, or close(): stop the stream too
            task.cancel()
            raise
        if not task.cancelled():
            task.result()
        return run.output()

    async def _stream(self, run: _Run, fields: dict[str, Any], extra: dict[str, Any]) -> None:
        assert self._client is not None
        client, deadline = self._client, run.request.deadline

        def open_stream(with_extra: bool) -> Callable[[], Awaitable[Any]]:
            return lambda: client.chat.completions.create(**fields, extra_body=extra if with_extra else None,
                                                          stream=True, extra_headers=self._auth_headers)
        with_extra = self._send_extra_sampling
        try:
            try:
                stream = await self._retrying(open_stream(with_extra), deadline)
            except openai.UnprocessableEntityError as e:
                if not (with_extra and any(f in _detail(e) for f in _EXTRA_SAMPLING_FIELDS)):
                    raise
                if self._send_extra_sampling:
                    self._send_extra_sampling = False
                    _LOG.warning("%s rejects sampling fields outside the OpenAI schema (%s); sending requests "
                                 "without them", self.config.base_url, self._redact(_detail(e)))
                stream = await self._retrying(open_stream(False), deadline)
            async with stream:  # leaving it closes the response, which stops the server's generation
                async for chunk in stream:
                    run.add(chunk)
                    run.stop_reason = run.request.stop_reason()
                    if run.stop_reason is not None:
                        return
        except openai.APIError as e:
            raise self._error(e, partial=run.output() if run.chunks else None) from e
        if run.finish is None:
            raise BackendUnavailableError(f"server at {self.config.base_url} ended the stream before the answer "
                                          "was finished", partial=run.output())

    # ----------------------------------------------------------------------------------- retry, errors
    async def _retrying(self, attempt: Callable[[], Awaitable[_T]], deadline: float | None) -> _T:
        """``attempt()``, again after connection failures, HTTP 429 and 5xx, with doubling waits that end
        before ``deadline``. A read timeout is not retried: the server is up but too slow."""
        retry = 0
        while True:
            try:
                return await attempt()
            except openai.APIStatusError as e:
                if e.status_code != 429 and e.status_code < 500:
                    raise
                error: Exception = e
            except openai.APIConnectionError as e:
                if isinstance(e, openai.APITimeoutError) and not isinstance(e.__cause__, httpx2.ConnectTimeout):
                    raise
                error = e
            wait = self.config.retry_backoff * 2 ** retry
            if retry >= self.config.retries or (deadline is not None and time.monotonic() + wait >= deadline):
                raise error
            retry += 1
            _LOG.warning("%s: %s; retry %d of %d in %.2f s", self.config.base_url, type(error).__name__,
                         retry, self.config.retries, wait)
            await asyncio.sleep(wait)

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if self._secret else text

    def _error(self, error: Exception, partial: Any = None) -> ReasonerError:
        """The package's error for an ``openai`` exception, saying what to fix (and never the key)."""
        url, tries, c = self.config.base_url, self.config.retries + 1, self.config
        if isinstance(error, openai.APIStatusError):
            status, detail = error.status_code, _detail(error)
            if status in (401, 403):
                message = (f"server at {url} refused the credentials (HTTP {status}: {detail}); put the right key "
                           f"in the environment variable ${c.api_key_env} of the node")
            elif status == 404:
                message = (f"server at {url} has no model {c.model!r} or no chat completions endpoint "
                           f"(HTTP 404: {detail}); check the model parameter, and that base_url ends in /v1")
            elif status in (400, 422):
                return ModelError(self._redact(f"server at {url} rejected the request for model {c.model!r} "
                                               f"(HTTP {status}: {detail})"), partial=partial)
            else:
                message = f"server at {url} failed (HTTP {status}: {detail}); tried up to {tries} time(s)"
        elif isinstance(error, openai.APITimeoutError):
            message = (f"server at {url} did not answer within {c.request_timeout:g} s (connect "
                       f"{c.connect_timeout:g} s); it is down or overloaded")
        elif isinstance(error, openai.APIConnectionError):
            cause = error.__cause__
            message = (f"cannot reach the model server at {url} (tried up to {tries} time(s); "
                       f"{type(cause or error).__name__}: {cause or error}); check that it runs, and openai.base_url")
        else:  # an error event inside the stream: the server is there, but generating failed
            return ModelError(self._redact(f"server at {url} failed while generating: {_detail(error)}"),
                              partial=partial)
        return BackendUnavailableError(self._redact(message), partial=partial)

    def close(self) -> None:
        self._shutdown()
        self.state = BackendState.UNLOADED

    async def _end_all(self) -> None:
        """End requests still running (their generate() calls raise instead of waiting forever), close the client."""
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if self._client is not None:
            await self._client.close()

    def _shutdown(self) -> None:
        """End running requests, close the client and stop the loop thread."""
        if self._loop is not None:
            try:
                self._call(self._end_all())
            except Exception as e:  # a pool of dead connections must not stop a reload
                _LOG.debug("closing the client failed: %s", e)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5.0)
            self._loop.close()
        self._client, self._loop, self._thread, self._secret = None, None, None, ""
