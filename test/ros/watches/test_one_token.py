"""One-token watches over real DDS: a node with a tiny model taught to answer "yes" in one word (asked without
reasoning) and three watches on one camera. The checks cost one token each; the watches that choose their
frames the same way are checked together, one prefill of the video (``CountingYesNo``, a test double that
wraps the backend's real ``answer_yes_no`` and records what each call asked and cost); a watch with other
frames is checked on its own; RAISE and CLEAR follow the taught answer and each watch's ``raise_on``."""
from __future__ import annotations

import threading
from typing import Any

from cosmos_reason_ros.msg import WatchState
from cosmos_reason_ros.srv import ListWatches
from helpers.ros_harness import Camera

NODE = "reasoner_one_token"
PREFIX = f"/{NODE}"


class CountingYesNo:
    """Test double: the backend's real ``answer_yes_no``, with every call's questions and prefills recorded."""

    def __init__(self, backend: Any) -> None:
        self._backend, self._original = backend, backend.answer_yes_no
        self.calls: list[tuple[int, int]] = []  # (questions, prefills) per call
        self.lock = threading.Lock()
        backend.answer_yes_no = self

    def __call__(self, request: Any) -> Any:
        output = self._original(request)
        with self.lock:
            self.calls.append((len(request.questions), output.prefills))
        return output

    def remove(self) -> None:
        del self._backend.answer_yes_no


def call(h, client, request):
    h.wait_for(client.service_is_ready, 10.0, "the service")
    future = client.call_async(request)
    h.wait_for(future.done, 30.0, "the response")
    return future.result()


#: The node's watches, declared as parameters (so all are due together when the checks start): three over the same
#: frames, one (``fewer``) with a frame count of its own.
WATCHES = {
    "person": {"question": "Is a person inside the arm's workspace?", "raise_after": 2},
    "upright": {"question": "Is the pallet standing upright?", "raise_on": "no", "clear_after": 2},
    "spill": {"question": "Is liquid spilled on the table?", "raise_after": 1},
    "fewer": {"question": "Is the door open?", "max_frames": 2, "raise_after": 1},
}


def test_three_watches_on_one_camera_cost_one_prefill_and_one_token_each(make_harness):
    from conftest import build_tiny_model

    params: dict[str, Any] = {"model": str(build_tiny_model("reason2", True, "watch_yes")), "frames.max_frames": 4,
                              "frames.history_seconds": 1.0, "watches.names": list(WATCHES)}
    for name, fields in WATCHES.items():
        params.update({f"watches.{name}.{key}": value for key, value in fields.items()})
        params[f"watches.{name}.period"] = 0.5
    h = make_harness(params, [Camera("front", f"{PREFIX}/front/image_raw")], node_name=NODE)
    counting = CountingYesNo(h.node.parts.model.backend)
    listing = h.helper.create_client(ListWatches, f"{PREFIX}/list_watches")
    try:
        def states() -> dict[str, Any]:
            return {w.watch.name: w for w in call(h, listing, ListWatches.Request()).watches}

        want = {"person": WatchState.STATE_RAISED, "upright": WatchState.STATE_CLEARED,
                "spill": WatchState.STATE_RAISED, "fewer": WatchState.STATE_RAISED}
        h.wait_for(lambda: {n: s.state for n, s in states().items()} == want, 90.0,
                   "the taught 'yes' raising the yes-watches and clearing the no-watch")
        # Checks that ran before the counting double was in place are not counted: wait for one of each kind.
        h.wait_for(lambda: {(3, 1), (1, 1)} <= set(counting.calls), 30.0,
                   "a check of the three watches that share frames, and one of the watch with its own frames")
        listed, entries = states(), h.node.parts.watches
        for name in want:
            assert not listed[name].watch.reasoning  # one token unless asked
            assert listed[name].last_answer == WatchState.ANSWER_YES and listed[name].last_confidence > 0.9
            stats = entries.entry(name).evidence.generation.stats
            assert stats.generated_tokens == 1 and stats.visual_tokens > 0  # one token per check, the video seen
        counts = [len(entries.entry(n).evidence.seen[0].stamps) for n in WATCHES]  # each watch its own choice
        assert counts[0] == counts[1] == counts[2] > counts[3] == 2, counts
    finally:
        counting.remove()
    with counting.lock:
        calls = list(counting.calls)
    # The three watches with the same frames are checked in one call, one prefill for three questions; the
    # watch with other frames is never folded into their call.
    assert set(calls) == {(3, 1), (1, 1)}, calls
