"""The OpenAI-compatible remote backend against a real ``transformers serve`` on loopback.

Two real servers are shared by the module: one serves a taught tiny Reason1 model (answers every prompt
with ``taught_output``), one an untaught model (emits arbitrary tokens until max_tokens, for cancel and
deadline). A scripted ``FaultInjector`` covers what a healthy local server never does: hang, fail with
5xx/401, use vLLM's stream fields, show the request headers.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from cosmos_reason_ros.core.answers.parsing import parse_output
from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Mode
from cosmos_reason_ros.core.errors import (
    BackendUnavailableError,
    ModelError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotReadyError,
)
from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
from cosmos_reason_ros.core.models.backend import BackendState, GenerationRequest, SamplingParams, StreamEvent
from cosmos_reason_ros.core.models.families import REASON1, REASON2, THINK_CLOSE, ModelFamily
from cosmos_reason_ros.core.models.openai_backend import OpenAIBackend, OpenAIConfig
from cosmos_reason_ros.core.modes.prompts import Prompt, build_prompt
from cosmos_reason_ros.testing.tiny_model import taught_output

# Loaded by path so it works under both pytest import modes (importlib mode keeps test/ off sys.path).
from helpers import serve_fixtures
from helpers.serve_fixtures import FaultInjector, Reply, ServeProcess, chunk

SECRET = "sk-test-d0-not-leak-7f3a9c"
KEY_ENV = "COSMOS_REASON_API_KEY"


@pytest.fixture(scope="module")
def servers(served_models):
    """The session's real servers (conftest): "taught" and "untaught" tiny reason1 models."""
    return served_models


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


def make_prompt(family: ModelFamily = REASON1, cameras=("head", "wrist"), frames: int = 4) -> Prompt:
    """A real prompt: textured frames from each camera through the core's video preparation."""
    rng = np.random.default_rng(0)
    clips = [CameraClip(cam, [Frame(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), 10.0 + 0.5 * i)
                              for i in range(frames)]) for cam in cameras]
    return build_prompt(family, Mode.DECOMPOSE, "put the red cup on the tray",
                        prepare_clips(clips, family, VideoBudget()))


def loaded(url: str, model: str, **config) -> OpenAIBackend:
    backend = OpenAIBackend(OpenAIConfig(base_url=url, model=model, **config))
    backend.load()
    return backend


def request(max_new_tokens: int = 256, **kwargs) -> GenerationRequest:
    sampling = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    return GenerationRequest(prompt=make_prompt(), sampling=sampling, **kwargs)


@pytest.fixture
def taught(servers):
    backend = loaded(servers["taught"].url, servers["taught"].model_dir)
    yield backend
    backend.close()


@pytest.fixture
def untaught(servers):
    backend = loaded(servers["untaught"].url, servers["untaught"].model_dir)
    yield backend
    backend.close()


# ------------------------------------------------------------------------------------ real server
def test_load_checks_the_served_model(servers):
    progress: list[str] = []
    backend = OpenAIBackend(OpenAIConfig(base_url=servers["taught"].url, model=servers["taught"].model_dir))
    backend.load(progress.append)
    assert backend.state is BackendState.READY and backend.family is REASON1
    assert backend.model_id == servers["taught"].model_dir
    assert any("serves" in message for message in progress)
    backend.close()
    assert backend.state is BackendState.UNLOADED


def test_two_cameras_give_the_taught_answer_which_parses(taught):
    req = request()
    prompt, out = req.prompt, taught.generate(req)
    # transformers serve moves <think>...</think> into reasoning_content for Qwen-VL models; the backend
    # folds it back, so the text is exactly what the model generated.
    assert out.text == taught_output("reason1")
    outcome = parse_output(out.text, REASON1, Mode.DECOMPOSE)
    assert outcome.ok, outcome.error
    assert [s.action for s in outcome.parsed.subtasks] == ["pick", "place"]
    stats = out.stats
    assert stats.stop_reason == "eos"
    assert stats.prompt_tokens > 0 and stats.generated_tokens > 0 and stats.tokens_per_second > 0
    assert 0 <= stats.time_to_first_token <= stats.generation_time
    assert stats.visual_tokens == sum(clip.visual_tokens for clip in prompt.clips) > 0


def test_stream_events_arrive_in_order_with_growing_text(taught):
    events: list[StreamEvent] = []
    caller = threading.get_ident()
    threads: set[int] = set()

    def on_stream(event: StreamEvent) -> None:
        threads.add(threading.get_ident())
        events.append(event)

    out = taught.generate(request(on_stream=on_stream))
    assert len(events) >= 3
    text_events = [e for e in events if e.delta]  # one per streamed chunk, counted as they come
    assert [e.tokens for e in text_events] == list(range(1, len(text_events) + 1))
    # The last event restates progress in the server's own token count (usage), as the stats report it.
    assert events[-1].tokens == out.stats.generated_tokens
    assert [e.tokens for e in events] == sorted(e.tokens for e in events)
    assert "".join(e.delta for e in events) == out.text == events[-1].text
    for before, after in zip(events, events[1:], strict=False):
        assert after.text.startswith(before.text) and after.elapsed >= before.elapsed
    answering = [e.answering for e in events]
    assert answering[0] is False and answering[-1] is True and answering == sorted(answering)
    assert threads == {caller}  # callbacks run on the caller's thread, as with the local backend


def test_cancel_mid_stream_stops_quickly_and_server_stays_usable(untaught):
    req = request(max_new_tokens=4000)

    def on_stream(event: StreamEvent) -> None:
        if event.tokens == 10:
            req.cancel.set()

    req.on_stream = on_stream
    started = time.monotonic()
    out = untaught.generate(req)
    assert time.monotonic() - started < 2.0
    assert out.stats.stop_reason == "canceled"
    assert out.text and 10 <= out.stats.generated_tokens < 200
    assert untaught.generate(request(max_new_tokens=5)).stats.stop_reason == "max_tokens"


def test_deadline_stops_with_partial_text(untaught):
    started = time.monotonic()
    out = untaught.generate(request(max_new_tokens=4000, deadline=time.monotonic() + 0.5))
    assert 0.5 <= time.monotonic() - started < 2.0
    assert out.stats.stop_reason == "deadline" and out.text


def test_wrong_model_name_is_a_clear_load_error(servers):
    backend = OpenAIBackend(OpenAIConfig(base_url=servers["taught"].url, model="nvidia/Cosmos-Reason1-7B"))
    with pytest.raises(ModelNotFoundError) as info:
        backend.load()
    message = str(info.value)
    assert "does not serve model 'nvidia/Cosmos-Reason1-7B'" in message and servers["taught"].url in message
    assert servers["taught"].model_dir in message  # the server's answer names what it is pinned to
    assert backend.state is BackendState.FAILED and backend.load_error == message


def test_concurrent_requests_from_threads_all_succeed(taught):
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(taught.generate(request()).text)
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and results == [taught_output("reason1")] * 4


def test_server_down_fails_fast_and_recovers_when_it_comes_back(servers, tmp_path):
    port = serve_fixtures.free_port()
    url = f"http://127.0.0.1:{port}/v1"
    model = servers["taught"].model_dir
    backend = OpenAIBackend(OpenAIConfig(base_url=url, model=model, retries=1, retry_backoff=0.1))
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        backend.load()
    assert time.monotonic() - started < 3.0
    assert url in str(info.value) and backend.state is BackendState.FAILED

    server = ServeProcess(Path(model), tmp_path, port=port).start()
    try:
        try:
            server.wait_ready()
        except serve_fixtures.ServeUnavailable as e:
            pytest.skip(f"transformers serve cannot start here: {e}")
        backend.load()
        assert backend.generate(request()).text == taught_output("reason1")
    finally:
        server.stop()
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="cannot reach the model server"):
        backend.generate(request())
    assert time.monotonic() - started < 3.0
    assert backend.ready  # a failed request leaves the backend usable once the server is back
    backend.close()


def test_api_key_reaches_a_real_server_without_leaking(servers, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, SECRET)
    caplog.set_level(logging.DEBUG)
    backend = loaded(servers["taught"].url, servers["taught"].model_dir)
    assert backend.generate(request()).text == taught_output("reason1")  # transformers serve ignores auth
    backend.close()
    assert all(SECRET not in record.getMessage() for record in caplog.records)


# ---------------------------------------------------------------------------------- fault injector
def test_api_key_is_a_bearer_header_and_never_in_errors_or_logs(monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, SECRET)
    caplog.set_level(logging.DEBUG)
    with FaultInjector() as server:
        backend = loaded(server.url, "scripted-model")
        backend.generate(request())
        assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {SECRET}"}
        server.chat_replies.append(Reply(status=401, json_body={"error": {"message": f"bad key {SECRET}"}}))
        with pytest.raises(BackendUnavailableError) as info:
            backend.generate(request())
        server.models_reply = Reply(status=401, json_body={"error": {"message": "invalid api key"}})
        with pytest.raises(BackendUnavailableError) as load_info:
            backend.load()
    for error in (info.value, load_info.value):
        assert SECRET not in str(error) and f"${KEY_ENV}" in str(error) and "401" in str(error)
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_no_key_means_no_authorization_header():
    with FaultInjector() as server:
        loaded(server.url, "scripted-model").generate(request())
    assert server.requests and all("authorization" not in r.headers for r in server.requests)


def test_vllm_style_reasoning_field_is_folded_and_chunks_count_without_usage():
    events = [chunk(content="", role="assistant"), chunk(reasoning="\nthe cup "), chunk(reasoning="is near\n"),
              chunk(content="\n\n{\"answer\": \"pick\"}"), chunk(finish="length")]
    with FaultInjector() as server:
        server.chat_replies.append(Reply(sse_events=events))
        out = loaded(server.url, "scripted-model").generate(request())
    assert out.text == f"<think>\nthe cup is near\n{THINK_CLOSE}\n\n{{\"answer\": \"pick\"}}"
    assert out.stats.generated_tokens == 3 and out.stats.prompt_tokens == 0
    assert out.stats.stop_reason == "max_tokens"


def test_request_body_sampling_and_frames():
    """Sampling extras go in the body (numbers as floats); each frame is one JPEG data URL after a line
    naming its camera and time; the family is guessed from the served name when asked to."""
    with FaultInjector(served=("nvidia/Cosmos-Reason2-8B",)) as server:
        backend = loaded(server.url, "nvidia/Cosmos-Reason2-8B", model_family="auto")
        assert backend.family is REASON2
        prompt = make_prompt(REASON2, cameras=("wrist",), frames=2)
        backend.generate(GenerationRequest(prompt=prompt, sampling=SamplingParams(
            temperature=0.6, top_p=0.95, top_k=20, repetition_penalty=1.0, max_new_tokens=64, seed=7,
            ignore_eos=True)))
    body = server.posts()[-1].body
    assert body["model"] == "nvidia/Cosmos-Reason2-8B" and body["max_tokens"] == 64 and body["seed"] == 7
    assert body["top_k"] == 20.0 and isinstance(body["top_k"], float) and body["ignore_eos"] is True
    assert isinstance(body["repetition_penalty"], float)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    content = body["messages"][1]["content"]
    images = [part["image_url"]["url"] for part in content if part["type"] == "image_url"]
    assert len(images) == 2 and all(url.startswith("data:image/jpeg;base64,") for url in images)
    texts = [part["text"] for part in content if part["type"] == "text"]
    assert '"wrist" frame 1 of 2 at 0.00 s:' in texts and '"wrist" frame 2 of 2 at 0.50 s:' in texts


def test_video_media_sends_one_jpeg_sequence_per_clip():
    with FaultInjector() as server:
        loaded(server.url, "scripted-model", media="video").generate(request())
    content = server.posts()[-1].body["messages"][1]["content"]
    videos = [part["video_url"]["url"] for part in content if part["type"] == "video_url"]
    assert len(videos) == 2 and all(v.startswith("data:video/jpeg;base64,") and v.count(",") == 4 for v in videos)


@pytest.mark.parametrize("status", [503, 429])
def test_retries_server_errors_and_encodes_frames_once(status, monkeypatch):
    calls = []
    original = cv2.imencode
    caller = threading.get_ident()  # frames are encoded on the caller's thread; count only those calls

    def counting_imencode(*args, **kwargs):
        if threading.get_ident() == caller:
            calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(cv2, "imencode", counting_imencode)
    with FaultInjector() as server:
        backend = loaded(server.url, "scripted-model", retries=2, retry_backoff=0.05)
        server.chat_replies += [Reply(status=status), Reply(status=status)]
        assert backend.generate(request()).stats.stop_reason == "eos"
        assert len(server.posts()) == 3 and len(calls) == 8  # 2 cameras × 4 frames, encoded once for 3 attempts
        server.chat_replies += [Reply(status=status)] * 3
        with pytest.raises(BackendUnavailableError, match=f"HTTP {status}"):
            backend.generate(request())
        assert len(server.posts()) == 6


def test_hanging_server_hits_the_deadline_then_the_timeout():
    with FaultInjector() as server:
        backend = loaded(server.url, "scripted-model", request_timeout=0.5, retries=2)
        server.chat_replies += [Reply(hang=True)] * 3
        started = time.monotonic()
        out = backend.generate(request(deadline=time.monotonic() + 0.2))
        # "deadline", not a timeout error: the watcher stopped the request before the 0.5 s read timeout.
        assert out.stats.stop_reason == "deadline" and out.text == "" and time.monotonic() - started < 2.0

        req = request()
        threading.Timer(0.1, req.cancel.set).start()
        assert backend.generate(req).stats.stop_reason == "canceled"

        started = time.monotonic()
        with pytest.raises(BackendUnavailableError, match="did not answer within 0.5 s"):
            backend.generate(request())
        assert time.monotonic() - started < 1.5  # a retry would wait 0.5 s, then time out again
        assert len(server.posts()) == 3  # one request each: a read timeout is not retried


def test_stream_cut_before_the_end_is_an_error_with_the_partial_text():
    with FaultInjector() as server:
        server.chat_replies.append(Reply(sse_events=[chunk(content="<think>\nhalf")], done=False))
        with pytest.raises(BackendUnavailableError, match="ended the stream") as info:
            loaded(server.url, "scripted-model").generate(request())
    assert info.value.partial.text == "<think>\nhalf"


def test_invalid_config_fails_the_load():
    for config in (OpenAIConfig(media="mp4"), OpenAIConfig(jpeg_quality=0), OpenAIConfig(model_family="reason9")):
        backend = OpenAIBackend(config)
        with pytest.raises(ModelLoadError):
            backend.load()
        assert backend.state is BackendState.FAILED


def test_generate_before_load_is_not_ready():
    with pytest.raises(ModelNotReadyError):
        OpenAIBackend(OpenAIConfig()).generate(request())


def test_close_ends_a_request_that_is_still_waiting():
    with FaultInjector() as server:
        backend = loaded(server.url, "scripted-model")
        server.chat_replies.append(Reply(hang=True))
        errors: list[Exception] = []

        def worker() -> None:
            try:
                backend.generate(request())
            except ModelError as e:
                errors.append(e)

        thread = threading.Thread(target=worker)
        thread.start()
        time.sleep(0.3)
        backend.close()
        thread.join(timeout=5)
    assert not thread.is_alive() and backend.state is BackendState.UNLOADED
    assert len(errors) == 1 and "closed" in str(errors[0])


def test_a_request_stopped_before_it_starts_sends_nothing():
    with FaultInjector() as server:
        backend = loaded(server.url, "scripted-model")
        canceled = request()
        canceled.cancel.set()
        assert backend.generate(canceled).stats.stop_reason == "canceled"
        assert backend.generate(request(deadline=time.monotonic() - 1)).stats.stop_reason == "deadline"
    assert server.posts() == []


def test_load_asks_for_one_token_only_when_the_model_list_fails_or_omits_it():
    with FaultInjector() as server:
        loaded(server.url, "scripted-model").close()
        assert [r.method for r in server.requests] == ["GET"]  # listed: no generation needed
        server.models_reply = Reply(status=500, json_body={"detail": "no hub cache"})  # transformers serve's pitfall
        backend = loaded(server.url, "scripted-model", retries=0)
        assert backend.ready and [r.method for r in server.requests[1:]] == ["GET", "POST"]
        assert server.posts()[-1].body["max_tokens"] == 1
