"""Model-fault messages: each way a model fails to load has its own message, naming the configured model and
the fix that applies (never `hf download <a local path>`).

Local cases load real broken directories built here from the tiny model; hub cases run offline
(HF_HUB_OFFLINE=1, an empty cache: no network here). Errors only a live hub returns (gated, unknown id or
revision, unreachable) are built from huggingface_hub's own exception types, wrapped the way transformers
wraps them, and given to the classifier.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from cosmos_reason_ros.core.errors import ModelLoadError, ModelNotFoundError, ModelNotReadyError
from cosmos_reason_ros.core.models import load_faults as model_faults
from cosmos_reason_ros.core.models.backend import BackendState
from cosmos_reason_ros.core.models.load_faults import EXAMPLE_HUB_ID
from cosmos_reason_ros.core.models.transformers_backend import TransformersBackend, TransformersConfig


def load_error(model: str, **config) -> ModelLoadError:
    backend = TransformersBackend(TransformersConfig(model=model, warmup=False, **config))
    with pytest.raises(ModelLoadError) as excinfo:
        backend.load()
    assert backend.state is BackendState.FAILED and backend.load_error == excinfo.value.message
    check_advice(excinfo.value.message)
    return excinfo.value


def check_advice(message: str) -> None:
    """Every `hf download` names a hub id (a local path only after --local-dir); no "is failed" grammar."""
    for target in re.findall(r"hf download (\S+)", message):
        assert not target.startswith(("/", ".", "~")), message
    assert " is failed" not in message


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


# ------------------------------------------------------------------------------------------------- local
def test_missing_directory_says_it_does_not_exist(tmp_path: Path) -> None:
    error = load_error(str(tmp_path / "models" / "cosmos"))
    assert isinstance(error, ModelNotFoundError)
    assert f"model directory '{tmp_path / 'models' / 'cosmos'}' does not exist" in error.message
    assert f"nearest existing folder is '{tmp_path}'" in error.message
    assert f"--local-dir {tmp_path / 'models' / 'cosmos'}" in error.message
    assert "no config.json" not in error.message


def test_a_file_is_not_a_model_directory(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"\0")
    error = load_error(str(tmp_path / "model.safetensors"))
    assert "is a file, not a model directory" in error.message


def test_directory_without_config_is_not_a_model_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    error = load_error(str(tmp_path / "empty"))
    assert isinstance(error, ModelNotFoundError)
    assert "is not a model directory: it has no config.json" in error.message
    assert f"hf download {EXAMPLE_HUB_ID} --local-dir {tmp_path / 'empty'}" in error.message


def test_directory_one_level_above_the_model_names_it(tmp_path: Path) -> None:
    (tmp_path / "models" / "reason1").mkdir(parents=True)
    (tmp_path / "models" / "reason1" / "config.json").write_text("{}")
    error = load_error(str(tmp_path / "models"))
    assert f"Did you mean '{tmp_path / 'models' / 'reason1'}'?" in error.message


def test_corrupt_config_is_not_reported_as_not_found(tmp_path: Path, reason1_model: Path) -> None:
    model = copy_model(reason1_model, tmp_path / "model")
    (model / "config.json").write_text('{"model_type": "qwen2_5_vl", ')  # truncated
    error = load_error(str(model))
    assert not isinstance(error, ModelNotFoundError)
    assert f"the config.json of model directory '{model}' is not valid JSON" in error.message
    assert "damaged or truncated" in error.message and "line 1 column" in error.message


def test_unknown_model_type_names_it_and_the_transformers_version(tmp_path: Path, reason1_model: Path) -> None:
    import transformers

    model = copy_model(reason1_model, tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    config["model_type"] = "frobnicator_vl"
    (model / "config.json").write_text(json.dumps(config))
    error = load_error(str(model))
    assert not isinstance(error, ModelNotFoundError)
    assert (f"names model_type 'frobnicator_vl', which transformers {transformers.__version__} does not know"
            in error.message)
    assert "qwen2_5_vl" in error.message and "pip install -U transformers" in error.message


def test_config_without_model_type(tmp_path: Path, reason1_model: Path) -> None:
    model = copy_model(reason1_model, tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    del config["model_type"]
    (model / "config.json").write_text(json.dumps(config))
    assert "has no model_type transformers knows" in load_error(str(model)).message


def test_missing_weights_are_found_before_loading(tmp_path: Path, reason1_model: Path) -> None:
    model = copy_model(reason1_model, tmp_path / "model")
    for weights in model.glob("*.safetensors"):
        weights.unlink()
    error = load_error(str(model))
    assert f"model directory '{model}' has a config.json but no weights" in error.message
    assert "incomplete" in error.message


def test_missing_weight_shard_is_named(tmp_path: Path, reason1_model: Path) -> None:
    model = copy_model(reason1_model, tmp_path / "model")
    (model / "model.safetensors").rename(model / "model-00001-of-00002.safetensors")
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                            "b": "model-00002-of-00002.safetensors"}}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    error = load_error(str(model))
    assert "lacks 1 of the 2 weight files" in error.message
    assert "model-00002-of-00002.safetensors" in error.message


def test_missing_processor_files(tmp_path: Path, reason1_model: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(reason1_model / name, model / name)
    error = load_error(str(model))
    assert f"model directory '{model}' has no usable processor files" in error.message


# --------------------------------------------------------------------------------------------------- hub
def test_offline_hub_id_not_cached_names_the_configured_model(offline_empty_cache: Path) -> None:
    error = load_error("nvidia/Cosmos-Reason2-8B")
    assert isinstance(error, ModelNotFoundError)
    assert "not in the local Hugging Face cache" in error.message and "offline mode is on" in error.message
    assert str(offline_empty_cache / "hub") in error.message
    assert "`hf download nvidia/Cosmos-Reason2-8B`" in error.message
    assert "Reason1" not in error.message  # the advice is about the configured model, not the default


def test_offline_relative_path_meant_as_a_directory(offline_empty_cache: Path, tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    error = load_error("models/cosmos")
    assert "If a local directory was meant: there is no 'models/cosmos' under" in error.message


def _hub_http_error(kind: str, model: str):
    """An error of huggingface_hub's own type, wrapped in an OSError as transformers raises it."""
    from huggingface_hub import errors

    try:  # the HTTP client huggingface_hub builds its responses with (httpx2 in 2.x, httpx before)
        import httpx2 as httpx
    except ImportError:
        import httpx
    url = f"https://huggingface.co/{model}/resolve/main/config.json"
    response = httpx.Response(401 if kind != "RevisionNotFoundError" else 404, request=httpx.Request("HEAD", url))
    cause = getattr(errors, kind)(f"{kind} for {url}", response=response)
    try:
        try:
            raise cause
        except Exception as e:
            raise OSError(f"{model} is not a local folder and is not a valid model identifier") from e
    except OSError as wrapped:
        return wrapped


@pytest.mark.parametrize("kind, expected", [
    ("GatedRepoError", "is gated on the Hugging Face hub: accept its license with your account at "
                       "https://huggingface.co/nvidia/Cosmos-Reason2-8B, then log in"),
    ("RepositoryNotFoundError", "the Hugging Face hub has no model 'nvidia/Cosmos-Reason2-8B'"),
    ("RevisionNotFoundError", "has no revision 'v9' on the Hugging Face hub: fix `local.revision`"),
])
def test_hub_answers_are_told_apart(kind: str, expected: str) -> None:
    error = model_faults.config_error(_hub_http_error(kind, "nvidia/Cosmos-Reason2-8B"), "nvidia/Cosmos-Reason2-8B",
                                      local=False, offline=False, revision="v9")
    assert expected in error.message
    check_advice(error.message)


def test_unreachable_hub_online() -> None:
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        try:
            try:
                raise ConnectionError("[Errno -2] Name or service not known")
            except ConnectionError as e:
                raise LocalEntryNotFoundError("cannot find the requested files in the local cache") from e
        except LocalEntryNotFoundError as e:
            raise OSError("We couldn't connect to 'https://huggingface.co' to load the files") from e
    except OSError as wrapped:
        error = model_faults.config_error(wrapped, "nvidia/Cosmos-Reason2-2B", local=False, offline=False)
    assert "cannot reach the Hugging Face hub to get the config of model 'nvidia/Cosmos-Reason2-2B'" in error.message
    assert "`hf download nvidia/Cosmos-Reason2-2B`" in error.message
    check_advice(error.message)


def test_not_ready_message_reads_as_english(tmp_path: Path) -> None:
    backend = TransformersBackend(TransformersConfig(model=str(tmp_path / "missing")))
    with pytest.raises(ModelLoadError):
        backend.load()
    with pytest.raises(ModelNotReadyError) as excinfo:
        backend.generate(None)  # type: ignore[arg-type]  # refused before the request is looked at
    assert excinfo.value.message.startswith(f"model '{tmp_path / 'missing'}' failed to load: model directory ")
    check_advice(excinfo.value.message)
