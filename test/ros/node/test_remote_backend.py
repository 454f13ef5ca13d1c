"""The node with `backend: openai` against a real `transformers serve` on loopback: same action, same
messages, same prompts and parsing as the local backend; server failures become error codes."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from action_msgs.msg import GoalStatus

from cosmos_reason_ros.action import ReasonAboutTask
from cosmos_reason_ros.msg import FeasibilityJudgment

pytestmark = pytest.mark.slow  # transformers-serve processes

Goal, Result, Feedback = ReasonAboutTask.Goal, ReasonAboutTask.Result, ReasonAboutTask.Feedback


def remote_params(url: str, model: str, **extra) -> dict:
    return {"backend": "openai", "openai.base_url": url, "model": model, "model_family": "reason1",
            "openai.retries": 0, "model_load_retry_period": 0.5, **extra}


@pytest.fixture(scope="module")
def taught_node(rclpy_session, served_models):
    from helpers.ros_harness import Camera, Harness

    server = served_models["taught"]
    with Harness.started(remote_params(server.url, server.model_dir),
                         [Camera("front", "/remote/front/image_raw")], node_name="reasoner_remote") as h:
        yield h


def test_goal_through_the_server_matches_the_local_contract(taught_node):
    status, result, feedback = taught_node.run("bring me the red cup", cameras=["front"])
    assert status == GoalStatus.STATUS_SUCCEEDED, result.error_msg
    plan = result.plan
    assert [s.action for s in plan.subtasks] == ["pick", "place"]
    assert plan.feasibility.verdict == FeasibilityJudgment.VERDICT_FEASIBLE
    assert "red cup stands upright" in plan.reasoning  # the server's reasoning field folded back
    assert len(plan.cameras[0].stamps) >= 2 and plan.stats.prompt_tokens > plan.stats.visual_tokens > 0
    stages = [f.stage for f in feedback]
    assert Feedback.STAGE_THINKING in stages and Feedback.STAGE_ANSWERING in stages
    assert "".join(f.new_text for f in feedback) == feedback[-1].partial_text


def test_cancel_closes_the_stream(make_harness, served_models):
    from helpers.ros_harness import Camera

    server = served_models["untaught"]
    h = make_harness(remote_params(server.url, server.model_dir,
                                   **{"generation.max_new_tokens": 4000}),
                     [Camera("front", "/remote_cancel/front")], node_name="reasoner_remote_cancel")
    feedback: list = []
    handle = h.send("describe everything", feedback=feedback)
    h.wait_for(lambda: any(f.tokens_generated > 3 for f in feedback), 60, "streaming to start")
    asked = time.monotonic()
    handle.cancel_goal_async()
    status, result = h.result(handle, 10)
    assert status == GoalStatus.STATUS_CANCELED and result.error_code == Result.CANCELED
    assert time.monotonic() - asked < 1.0
    assert 3 < result.plan.stats.generated_tokens < 4000


def test_server_down_then_restarted(rclpy_session, served_models, tmp_path):
    """Down: BACKEND_UNAVAILABLE quickly and the node keeps serving; restarted: the next goal works."""
    from helpers import serve_fixtures
    from helpers.ros_harness import Camera, Harness

    model = Path(served_models["taught"].model_dir)
    server = serve_fixtures.ServeProcess(model, tmp_path).start()
    server.wait_ready()
    try:
        # The node is closed before the server is stopped, so the harness is a block here, not make_harness.
        with Harness.started(remote_params(server.url, str(model)),
                             [Camera("front", "/remote_down/front")], node_name="reasoner_remote_down") as h:
            assert h.run(cameras=["front"])[1].error_code == Result.NONE
            server.stop()
            started = time.monotonic()
            status, result, _ = h.run(cameras=["front"])
            assert result.error_code == Result.BACKEND_UNAVAILABLE and server.url.split("/v1")[0] in result.error_msg
            assert time.monotonic() - started < 5.0
            server = serve_fixtures.ServeProcess(model, tmp_path, port=server.port).start()
            server.wait_ready()
            status, result, _ = h.run(cameras=["front"])
            assert result.error_code == Result.NONE, result.error_msg
    finally:
        server.stop()


def test_a_node_started_before_its_server_connects_once_the_server_is_up(rclpy_session, served_models, tmp_path):
    from helpers import serve_fixtures
    from helpers.ros_harness import Camera, Harness

    port = serve_fixtures.free_port()
    model = served_models["taught"].model_dir
    server = None
    try:
        # The node is closed before the server is stopped, so the harness is a block here, not make_harness.
        with Harness.started(remote_params(f"http://127.0.0.1:{port}/v1", model),
                             [Camera("front", "/remote_late/front")], ready=False,
                             node_name="reasoner_remote_late") as h:
            h.wait_for(lambda: h.client.server_is_ready(), 10, "action server")
            h.wait_for(lambda: len(h.node.parts.ingest.cameras["front"].buffer) > 2, 10, "frames")
            assert h.run(cameras=["front"])[1].error_code == Result.MODEL_NOT_READY
            server = serve_fixtures.ServeProcess(Path(model), tmp_path, port=port).start().wait_ready()
            h.wait_for(lambda: h.node.parts.model.backend.ready, 30, "the node to reconnect (model_load_retry_period)")
            assert h.run(cameras=["front"])[1].error_code == Result.NONE
    finally:
        if server is not None:
            server.stop()


def test_slow_server_gives_timeout(rclpy_session):
    """Fault injector (not a model server): accepts the request and never answers."""
    from helpers import serve_fixtures
    from helpers.ros_harness import Camera, Harness

    with serve_fixtures.FaultInjector(served=("slow-model",)) as injector:
        injector.chat_replies = [serve_fixtures.Reply(hang=True)]
        # The node is closed before the injector releases its hung request, so a block here, not make_harness.
        with Harness.started(remote_params(injector.url, "slow-model"),
                             [Camera("front", "/remote_slow/front")], node_name="reasoner_remote_slow") as h:
            started = time.monotonic()
            status, result, _ = h.run(cameras=["front"], timeout=1.0)
            assert result.error_code == Result.TIMEOUT
            assert time.monotonic() - started < 3.0


def test_several_nodes_share_one_server(make_harness, served_models):
    from helpers.ros_harness import Camera

    server = served_models["taught"]
    nodes = [make_harness(remote_params(server.url, server.model_dir), [Camera("front", f"/robot{i}/front")],
                          ready=False, node_name=f"reasoner_robot{i}") for i in range(3)]
    for h in nodes:
        h.wait_ready()
    results: dict[int, object] = {}

    def ask(i: int) -> None:
        results[i] = nodes[i].run(f"robot {i}: bring me the red cup", cameras=["front"], wait=120)[1]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=150)
    assert sorted(results) == [0, 1, 2]
    for i, result in results.items():
        assert result.error_code == Result.NONE, result.error_msg
        assert result.plan.task == f"robot {i}: bring me the red cup"
        assert result.plan.cameras[0].stamps  # each robot's own frames
