"""One-token yes/no checks on a model server: one request per question with ``max_tokens`` 1, greedy, and
``top_logprobs``; P(yes) / P(no) summed over the first token's alternatives (vLLM's stream fields, scripted by
``FaultInjector``, a fake server that speaks just enough of the OpenAI API), the generated word when the server
returns no logprobs, and the thinking switch turned off for the template."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cosmos_reason_ros.core.datatypes import CameraClip, Frame, Observed
from cosmos_reason_ros.core.frames.video import VideoBudget, prepare_clips
from cosmos_reason_ros.core.models.backend import YesNoRequest
from cosmos_reason_ros.core.models.families import COSMOS3
from cosmos_reason_ros.core.models.openai_backend import YES_NO_TOP_LOGPROBS, OpenAIBackend, OpenAIConfig
from cosmos_reason_ros.core.modes.prompts import build_watch_prompt, watch_question
from cosmos_reason_ros.core.modes.watches import score_result
from helpers.serve_fixtures import FaultInjector, Reply, chunk


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("COSMOS_REASON_API_KEY", raising=False)


def yes_no_request(questions=("is anyone there?", "is the door open?")) -> YesNoRequest:
    rng = np.random.default_rng(0)
    clip = CameraClip("front", [Frame(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), 1.0 + 0.5 * i)
                                for i in range(2)])
    prompt = build_watch_prompt(COSMOS3, prepare_clips([clip], COSMOS3, VideoBudget()))
    return YesNoRequest(prompt, tuple(watch_question(q) for q in questions))


def with_logprobs(token: str, alternatives: dict[str, float]) -> dict:
    """A vLLM-style first chunk carrying the token and its top alternatives."""
    event = chunk(content=token)
    top = [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in alternatives.items()]
    event["choices"][0]["logprobs"] = {"content": [{"token": token, "logprob": math.log(alternatives[token]),
                                                    "bytes": None, "top_logprobs": top}]}
    return event


def loaded(url: str) -> OpenAIBackend:
    backend = OpenAIBackend(OpenAIConfig(base_url=url, model="scripted-model", model_family="cosmos3"))
    backend.load()
    return backend


def test_each_question_is_one_request_for_one_token_with_logprobs():
    with FaultInjector() as server:
        server.chat_replies += [
            Reply(sse_events=[with_logprobs("Yes", {"Yes": 0.6, " yes": 0.2, "No": 0.1, "Maybe": 0.05}),
                              chunk(finish="length")]),
            Reply(sse_events=[with_logprobs("no", {"no": 0.7, "No": 0.2, "yes": 0.05}), chunk(finish="length")])]
        backend = loaded(server.url)
        out = backend.answer_yes_no(yes_no_request())
        backend.close()
    bodies = [r.body for r in server.posts()]
    assert len(bodies) == 2 and all(b["max_tokens"] == 1 and b["temperature"] == 0.0 for b in bodies)
    assert all(b["logprobs"] is True and b["top_logprobs"] == YES_NO_TOP_LOGPROBS for b in bodies)
    assert all(b["chat_template_kwargs"] == {"enable_thinking": False} for b in bodies)  # asked without reasoning
    assert [b["messages"][1]["content"][-1]["text"] for b in bodies] == list(yes_no_request().questions)
    first, second = out.scores
    assert first.p_yes == pytest.approx(0.8) and first.p_no == pytest.approx(0.1) and not first.from_text
    assert second.p_yes == pytest.approx(0.05) and second.p_no == pytest.approx(0.9)
    assert [score_result(s).answer for s in out.scores] == [Observed.YES, Observed.NO]


def test_without_logprobs_the_generated_word_decides():
    with FaultInjector() as server:
        server.chat_replies += [Reply(sse_events=[chunk(content="No"), chunk(finish="length")]),
                                Reply(sse_events=[chunk(content="The"), chunk(finish="length")])]
        backend = loaded(server.url)
        out = backend.answer_yes_no(yes_no_request())
        backend.close()
    no, other = out.scores
    assert no.from_text and (no.p_yes, no.p_no) == (0.0, 1.0) and score_result(no).answer == Observed.NO
    unknown = score_result(other)
    assert not unknown.answered and "'The'" in unknown.reason  # neither: UNKNOWN, saying what it wrote


def test_a_canceled_check_sends_nothing():
    with FaultInjector() as server:
        backend = loaded(server.url)
        request = yes_no_request()
        request.cancel.set()
        out = backend.answer_yes_no(request)
        backend.close()
    assert out.stop_reason == "canceled" and not out.scores and not server.posts()
