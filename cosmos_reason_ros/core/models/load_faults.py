"""Why a model did not load, in words that say how to fix it.

Loading a model can fail in a handful of distinct ways (a directory that does not exist, a directory that
is not a model, a damaged or unknown config, missing weights or processor files, a hub id that is gated,
misspelt or not cached while offline, a hub that cannot be reached). ``transformers`` reports most of them
as a bare ``OSError`` or ``ValueError`` whose cause chain holds the real reason; this module tells them
apart and builds one message per cause that names the configured model and the fix that applies to it.
It checks a local directory before anything is loaded, so a broken directory fails in milliseconds.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from cosmos_reason_ros.core.errors import ModelLoadError, ModelNotFoundError
from cosmos_reason_ros.core.models.families import DEFAULT_MODEL

EXAMPLE_HUB_ID = DEFAULT_MODEL
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
MODEL_DIR_CONTENTS = ("config.json, the weights (*.safetensors) and the processor files (preprocessor or "
                      "processor config, tokenizer files)")
TINY_MODEL_HINT = "for trying the plumbing without weights: `make_tiny_model DIR` and set `model` to DIR"


def looks_local(model: str) -> bool:
    """A path rather than a hub id: absolute, relative with ./ ../ ~, or something that exists here."""
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().exists()


def hub_cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # noqa: BLE001 - only used in a message
        return os.path.join(os.environ.get("HF_HOME", "~/.cache/huggingface"), "hub")


def check_local_model_dir(model: str) -> Path:
    """The directory ``model`` names, if it exists and holds a config.json; else the error for what is wrong."""
    path = Path(model).expanduser()
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        raise ModelNotFoundError(
            f"model directory {str(path)!r} does not exist"
            + (f" (the nearest existing folder is {str(parent)!r})" if parent not in (None, Path("/")) else "")
            + ". Set `model` to an existing local directory holding " + MODEL_DIR_CONTENTS + ", or to a Hugging "
            f"Face model id such as {EXAMPLE_HUB_ID} (downloaded into the cache on the first start), or download a "
            f"model into this directory: `hf download {EXAMPLE_HUB_ID} --local-dir {path}`; " + TINY_MODEL_HINT + ".")
    if not path.is_dir():
        raise ModelNotFoundError(f"model path {str(path)!r} is a file, not a model directory. Set `model` to the "
                                 "directory that holds " + MODEL_DIR_CONTENTS + ".")
    if not (path / "config.json").is_file():
        nested = sorted(str(p.parent) for p in path.glob("*/config.json"))[:3]
        raise ModelNotFoundError(
            f"{str(path)!r} is not a model directory: it has no config.json. A model directory holds "
            + MODEL_DIR_CONTENTS + "."
            + (f" Did you mean {' or '.join(repr(n) for n in nested)}?" if nested else
               f" Point `model` at one, or download a model into this one: `hf download {EXAMPLE_HUB_ID} "
               f"--local-dir {path}`."))
    return path


def check_local_weights(path: Path) -> None:
    """A model directory's weight files are all there (checked before minutes of loading, not after)."""
    for index_name in WEIGHT_INDEXES:
        index = path / index_name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
                raise ModelLoadError(f"{index} of model directory {str(path)!r} is damaged ({type(e).__name__}: "
                                     f"{e}); copy or download the model again.") from e
            missing = [s for s in shards if not (path / s).is_file()]
            if missing:
                raise ModelLoadError(
                    f"model directory {str(path)!r} lacks {len(missing)} of the {len(shards)} weight files its "
                    f"{index_name} lists ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): the copy "
                    "or download is incomplete; copy the missing files or download the model again.")
            return
    if not any(next(path.glob(pattern), None) is not None for pattern in WEIGHT_PATTERNS):
        raise ModelLoadError(
            f"model directory {str(path)!r} has a config.json but no weights (model.safetensors, sharded "
            "model-*-of-*.safetensors with model.safetensors.index.json, or pytorch_model.bin): the copy or "
            "download is incomplete; copy the weight files into it or download the model again.")


def _chain(error: BaseException) -> list[BaseException]:
    """The error and its causes, outermost first (bounded, cycle-safe)."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _find(error: BaseException, *names: str) -> BaseException | None:
    """The first error in the chain whose type (or a base of it) is called one of ``names``."""
    for item in _chain(error):
        if any(cls.__name__ in names for cls in type(item).__mro__):
            return item
    return None


def _transformers_version() -> str:
    try:
        import transformers

        return transformers.__version__
    except Exception:  # noqa: BLE001 - only used in a message
        return "(unknown version)"


def config_error(error: BaseException, model: str, local: bool, offline: bool, revision: str = "") -> ModelLoadError:
    """The ModelLoadError for a failure to read the model's config (``AutoConfig.from_pretrained``)."""
    where = f"model directory {model!r}" if local else f"model {model!r}"
    decode = _find(error, "JSONDecodeError")
    if decode is not None or "not a valid JSON" in str(error):
        fix = ("copy or download the model again" if local else
               f"download it again: `hf download {model} --force-download`")
        detail = f" ({decode})" if decode is not None else ""
        return ModelLoadError(f"the config.json of {where} is not valid JSON{detail}: the file is damaged or "
                              f"truncated; {fix}.")
    text = " ".join(str(e) for e in _chain(error))
    if "does not recognize this architecture" in text or "Unrecognized model" in text or "model_type" in text:
        model_type = _declared_model_type(model) if local else None
        named = (f"names model_type {model_type!r}, which transformers {_transformers_version()} does not know"
                 if model_type else "has no model_type transformers knows")
        return ModelLoadError(
            f"the config.json of {where} {named}. Cosmos Reason1 models are model_type qwen2_5_vl, Reason2 "
            "qwen3_vl: check that `model` is a Cosmos Reason model, or upgrade transformers "
            "(`pip install -U transformers`) if it is a newer architecture.")
    if local:
        return ModelLoadError(f"reading the config of {where} failed: {_one_line(error)}")
    return hub_error(error, model, offline, revision, "config")


def _declared_model_type(model: str) -> str | None:
    try:
        value = json.loads((Path(model).expanduser() / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def hub_error(error: BaseException, model: str, offline: bool, revision: str, what: str) -> ModelLoadError:
    """The error for a hub id whose files (``what``: config, processor, weights) could not be obtained."""
    if _find(error, "GatedRepoError") is not None:
        return ModelLoadError(
            f"model {model!r} is gated on the Hugging Face hub: accept its license with your account at "
            f"https://huggingface.co/{model}, then log in on this machine (`hf auth login`, or set HF_TOKEN).")
    if _find(error, "RevisionNotFoundError") is not None:
        return ModelNotFoundError(f"model {model!r} has no revision {revision!r} on the Hugging Face hub: fix "
                                  "`local.revision` (a branch, tag or commit of the model), or leave it empty.")
    if _find(error, "RepositoryNotFoundError") is not None:
        return ModelNotFoundError(
            f"the Hugging Face hub has no model {model!r} (or it is private and this machine is not logged in): "
            f"check the id (e.g. {EXAMPLE_HUB_ID}), or `hf auth login` for a private model."
            + _local_hint(model))
    if offline:
        return ModelNotFoundError(
            f"the {what} of model {model!r} is not in the local Hugging Face cache ({hub_cache_dir()}) and offline "
            "mode is on (HF_HUB_OFFLINE=1 or local.offline: true). Download it once with network access: "
            f"`hf download {model}` (with the same HF_HOME), or set `model` to a local model directory."
            + _local_hint(model))
    if _find(error, "ConnectError", "ConnectionError", "ConnectTimeout", "TimeoutException", "gaierror",
             "LocalEntryNotFoundError", "OfflineModeIsEnabled") is not None:
        return ModelNotFoundError(
            f"cannot reach the Hugging Face hub to get the {what} of model {model!r}, and it is not in the local "
            f"cache ({hub_cache_dir()}): check the network or proxy (HTTPS_PROXY, HF_ENDPOINT), or download it "
            f"where there is network (`hf download {model}`) and copy the cache, or set `model` to a local model "
            "directory." + _local_hint(model))
    return ModelLoadError(f"getting the {what} of model {model!r} failed: {_one_line(error)}")


def files_error(error: BaseException, model: str, local: bool, offline: bool, revision: str,
                what: str) -> ModelLoadError:
    """The error for processor files or weights that could not be loaded after the config was read."""
    if not local:
        return hub_error(error, model, offline, revision, what)
    if what == "processor":
        return ModelLoadError(
            f"model directory {model!r} has no usable processor files (preprocessor_config.json or "
            "processor_config.json, and the tokenizer files): copy them from the model's hub repository or "
            f"download the model again. ({_one_line(error)})")
    return ModelLoadError(f"loading the weights of model directory {model!r} failed: {_one_line(error)}")


def _local_hint(model: str) -> str:
    """For a hub-id-looking name that was meant as a relative path (``models/foo`` with a ``models`` folder)."""
    first = Path(model).parts[0] if Path(model).parts else ""
    if first and Path(first).is_dir():
        return f" (If a local directory was meant: there is no {model!r} under {os.getcwd()!r}.)"
    return ""


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:400]}"
