"""The visual models see: each family's, built by testing.visual_model and cached, answers held-out synthetic
frames right (the package's own parser reading its answers) at least 95 % of the time.

``write_visual_model`` measured its accuracy on samples drawn with another seed than training and wrote it
into VISUAL_MODEL.json; this test also draws fresh samples (a third seed) and asks the saved model again,
through the local backend loaded from the directory as the node loads it. Colour (asked as a question and as a
watch) must have been learnt.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig
from cosmos_reason_ros.testing import visual_model as vm
from cosmos_reason_ros.testing.tiny_model import TINY_FAMILIES

FAST_FAMILIES = ("reason2",)
PER_FUNCTION = 10  # fresh samples per function: at 95 % or more a function misses at most one


@pytest.fixture(scope="module")
def loaded(visual_models):
    made: dict = {}

    def load(family: str) -> tuple:
        if family not in made:
            path = visual_models(family)
            backend = TransformersBackend(TransformersConfig(model=str(path), device="cpu", warmup=False))
            backend.load()
            made[family] = path, backend
        return made[family]

    yield load
    for _, backend in made.values():
        backend.close()


@pytest.mark.parametrize("function", vm.FUNCTIONS)
@pytest.mark.parametrize("family", [pytest.param(f, marks=() if f in FAST_FAMILIES else pytest.mark.slow)
                                    for f in TINY_FAMILIES])
def test_the_saved_model_answers_held_out_frames(loaded, family, function):
    path, backend = loaded(family)
    report = json.loads((path / "VISUAL_MODEL.json").read_text())
    assert report["family"] == family and backend.family.name == family
    assert report["held_out_accuracy"][function] >= vm.REQUIRED_ACCURACY, report
    rng = np.random.default_rng(2026)
    right = 0
    for _ in range(PER_FUNCTION):
        sample = vm.draw_sample(backend.family, rng, function)
        text = vm.ask_backend(backend, sample)
        right += vm.read_answer(text, sample, backend.family)
    assert right >= PER_FUNCTION - 1, f"{right}/{PER_FUNCTION} fresh {function} samples right"
