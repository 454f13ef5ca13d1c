"""Shared fixtures: tiny real-architecture models (cached by source hash) and an rclpy session.

Tests run against the installed package (scripts/test.sh sources install/setup.bash); this directory is
put on sys.path so tests can import the helper modules beside them (``ros_harness``), never the source
package.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TEST_DIR = Path(__file__).resolve().parent
if str(TEST_DIR) not in sys.path:
    sys.path.insert(0, str(TEST_DIR))

REPO = TEST_DIR.parent


def _model_cache_root() -> Path:
    """Where tiny models are kept between runs (ignored by git; a fresh clone builds them once)."""
    return Path(os.environ.get("COSMOS_TEST_CACHE", REPO / "build" / "test_models"))


def _tiny_model_key(family: str, teach: bool, scenario: str) -> str:
    import transformers

    from cosmos_reason_ros.testing import tiny_model

    module = Path(tiny_model.__file__)
    source = module.read_bytes() + b"".join(t.read_bytes() for t in sorted(module.parent.glob("*.jinja")))
    digest = hashlib.sha256(source + transformers.__version__.encode()).hexdigest()[:12]
    return f"{family}-{scenario if teach else 'random'}-{digest}"


def build_tiny_model(family: str, teach: bool, scenario: str = "reachable") -> Path:
    """A tiny model directory, built once per source version and reused (safe across parallel runs)."""
    from cosmos_reason_ros.testing.tiny_model import write_tiny_model

    root = _model_cache_root()
    target = root / _tiny_model_key(family, teach, scenario)
    if (target / "config.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{target.name}.{os.getpid()}"
    write_tiny_model(staging, family=family, teach_answer=teach, scenario=scenario)
    try:
        staging.rename(target)
    except OSError:  # another run finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _visual_model_key(family: str) -> str:
    """Covers the visual model's own module as well as everything the tiny-model key covers."""
    import transformers

    from cosmos_reason_ros.testing import tiny_model, visual_model

    modules = (Path(tiny_model.__file__), Path(visual_model.__file__))
    source = b"".join(m.read_bytes() for m in modules)
    source += b"".join(t.read_bytes() for t in sorted(modules[0].parent.glob("*.jinja")))
    digest = hashlib.sha256(source + transformers.__version__.encode()).hexdigest()[:12]
    return f"{family}-visual-{digest}"


def build_visual_model(family: str) -> Path:
    """A tiny model of ``family`` taught visual functions (testing.visual_model), built once per source
    version and reused like ``build_tiny_model``; VISUAL_MODEL.json in it holds its held-out accuracy."""
    from cosmos_reason_ros.testing.visual_model import write_visual_model

    root = _model_cache_root()
    target = root / _visual_model_key(family)
    if (target / "VISUAL_MODEL.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{target.name}.{os.getpid()}"
    write_visual_model(staging, family=family)
    try:
        staging.rename(target)
    except OSError:  # another run finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def visual_models() -> Callable[[str], Path]:
    """``visual_models(family)``: the family's tiny model taught to see (built on first use, then cached)."""
    return build_visual_model


@pytest.fixture(scope="session")
def reason1_model() -> Path:
    """Tiny Cosmos-Reason1 architecture (Qwen2.5-VL) taught to give one well-formed answer."""
    return build_tiny_model("reason1", teach=True)


@pytest.fixture(scope="session")
def reason2_model() -> Path:
    """Tiny Cosmos-Reason2 architecture (Qwen3-VL) taught to give one well-formed answer."""
    return build_tiny_model("reason2", teach=True)


@pytest.fixture(scope="session")
def cosmos3_models() -> dict[str, Path]:
    """Tiny Cosmos 3 reasoners, taught one well-formed answer: "cosmos3" (Nano/Super: a Qwen3-VL under
    ``cosmos3_omni``) and "cosmos3_edge" (its own architecture, processors and a template that opens <think>)."""
    return {family: build_tiny_model(family, teach=True) for family in ("cosmos3", "cosmos3_edge")}


@pytest.fixture(scope="session")
def blocked_model() -> Path:
    """Tiny Cosmos-Reason1 architecture taught an INFEASIBLE answer (a closed door blocks the cup)."""
    return build_tiny_model("reason1", teach=True, scenario="blocked")


@pytest.fixture(scope="session")
def grounded_models() -> dict[str, Path]:
    """Tiny models of both families taught the "grounded" answer: the feasible plan plus located objects."""
    return {family: build_tiny_model(family, teach=True, scenario="grounded") for family in ("reason1", "reason2")}


@pytest.fixture(scope="session")
def skills_model() -> Path:
    """Tiny Cosmos-Reason2 architecture taught an answer in skills: a re-plan after a slipped grasp, its first step
    under a synonym ("grab") with a choice argument, its second with a number (``tiny_model.SKILL_SCENARIOS``)."""
    return build_tiny_model("reason2", teach=True, scenario="skills")


@pytest.fixture(scope="session")
def random_model() -> Path:
    """Tiny Cosmos-Reason1 architecture with random weights: emits arbitrary tokens, rarely stops."""
    return build_tiny_model("reason1", teach=False)


@pytest.fixture(scope="session")
def served_models(tmp_path_factory, reason1_model, random_model):
    """Real `transformers serve` processes on loopback: "taught" serves reason1_model, "untaught"
    random_model (long arbitrary output). Started together once, after the models exist (training while a
    server boots makes both fight for the CPU); skipped with the reason if the server cannot start here."""
    from helpers import serve_fixtures

    work = tmp_path_factory.mktemp("serve")
    procs = {"taught": serve_fixtures.ServeProcess(reason1_model, work).start(),
             "untaught": serve_fixtures.ServeProcess(random_model, work).start()}
    try:
        for proc in procs.values():
            proc.wait_ready()
    except serve_fixtures.ServeUnavailable as e:
        for proc in procs.values():
            proc.stop()
        pytest.skip(f"transformers serve cannot start here: {e}")
    yield procs
    for proc in procs.values():
        proc.stop()


@pytest.fixture()
def offline_empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HF_HUB_OFFLINE=1, an empty HF_HOME and the working directory a temporary one: a hub id can neither be
    downloaded nor resolve to a local folder. huggingface_hub reads the variables at import, so the
    already-imported module is pointed at the empty cache too."""
    import huggingface_hub.constants as hub_constants

    home = tmp_path / "hf_home"
    (home / "hub").mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HOME", str(home))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture()
def clean_blackboard():
    """py_trees' blackboard is process-wide: every behaviour-tree test starts and ends with it empty."""
    import py_trees

    py_trees.blackboard.Blackboard.clear()
    yield
    py_trees.blackboard.Blackboard.clear()


@pytest.fixture(scope="session")
def rclpy_session():
    """rclpy initialised once for the whole run (each test makes its own nodes and executor)."""
    rclpy = pytest.importorskip("rclpy", reason="rclpy is not importable: run scripts/test.sh (it sources the ROS env)")
    rclpy.init()
    yield rclpy
    rclpy.try_shutdown() if hasattr(rclpy, "try_shutdown") else rclpy.shutdown()


@pytest.fixture
def make_harness(rclpy_session):
    """Builds node harnesses for one test: ``make_harness(params, cameras, ready=True, **kwargs)`` returns a
    ``helpers.ros_harness.Harness`` (``kwargs`` go to its constructor), ready unless ``ready=False``. Every
    harness it made is closed at teardown, newest first; closing one in the test as well is harmless."""
    from contextlib import ExitStack

    from helpers.ros_harness import Harness

    with ExitStack() as made:
        def make(params: dict, cameras: list, *, ready: bool = True, **kwargs) -> Harness:
            return made.enter_context(Harness.started(params, cameras, ready=ready, **kwargs))

        yield make


@pytest.fixture
def recorder(rclpy_session):
    made: list = []

    from helpers.tools import Recorder

    def make(topic: str, compressed: bool = False) -> Recorder:
        made.append(Recorder(topic, compressed))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` skip with a stated reason where there is no CUDA, and run where there is."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu") is not None]
    if gpu_tests and not _cuda_available():
        skip = pytest.mark.skip(reason="needs CUDA (marked gpu): no CUDA device here")
        for item in gpu_tests:
            item.add_marker(skip)
