"""Opening model folders and Hub ids: the one place that decides which code may run and what counts as loaded.

* A local path is a path: a string naming an existing file system entry, or looking like a path (`./x`,
  `../x`, `/x`, `~/x`, or whose first component is an existing folder, as in `runs/stage1`), is never sent to
  the Hub; a missing one fails at once with "folder not found". Anything else is a Hub id.
* The folder's `config.json` is read as data first. An `exhubert` model is always built with this package's
  classes and a `hubert` one with transformers'; the Python files a folder carries are never imported for
  them. Any other model type needs `trust_remote_code=True` (`--trust-remote-code`), which is passed to
  transformers, so its code runs only when the user asked for it.
* Weights must match the model: a missing or unexpected tensor anywhere (a headless classifier, a truncated
  checkpoint) is a `ModelLoadError`, not a model with randomly initialised parts. ExHuBERT and HuBERT weights
  are read from safetensors only (a folder with only `pytorch_model.bin`, a pickle, is refused).
* A Hub id is first probed with one request (no retries, `HUB_TIMEOUT` seconds): an unreachable Hub is one
  `HubUnreachableError` at once (or, when the model is in the local cache, the cache is used), not minutes of
  retries; with HF_HUB_OFFLINE=1 only the cache is used.
"""

import json
import os
import pickle
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url, try_to_load_from_cache
from huggingface_hub.errors import (
    HfHubHTTPError,
    HFValidationError,
    HTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from transformers import (
    AutoFeatureExtractor,
    AutoModelForAudioClassification,
    HubertForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    Wav2Vec2FeatureExtractor,
)

from .errors import ExHubertError, HubUnreachableError, ModelLoadError, error_summary
from .modeling_exhubert import ExHubertForSequenceClassification, default_feature_extractor, looks_like_local_path

CONFIG_FILE = "config.json"
BUILT_IN_CLASSIFIERS = {"exhubert": ExHubertForSequenceClassification, "hubert": HubertForSequenceClassification}
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
HUB_TIMEOUT = 4.0  # seconds for the one probing request: an unreachable Hub is reported within 5 s


def model_source(source) -> str:
    """`source` as a local folder path or a Hub id; `ModelLoadError` for a missing local path, a file, or a
    string that is neither a path nor a valid Hub id."""
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"{text}: is a file, not a model folder")
        return str(path)
    if looks_like_local_path(text):
        raise ModelLoadError(f"{text}: folder not found")
    try:
        validate_repo_id(text)
    except HFValidationError as error:
        raise ModelLoadError(f"{text}: neither an existing folder nor a valid Hub id ({error})") from None
    return text


@contextmanager
def unreachable_hub_as_error(what: str):
    """Inside the block, a Hub that cannot be reached (the request never got an answer) raises
    `HubUnreachableError` naming `what`; answers of the Hub (not found, unauthorised, ...) pass unchanged."""
    try:
        yield
    except HfHubHTTPError:
        raise
    except HTTPError as error:
        raise HubUnreachableError(
            f"{what}: the Hugging Face Hub cannot be reached ({error_summary(error)}); check the network "
            "(HF_HUB_OFFLINE=1 uses cached models only)"
        ) from None


@lru_cache(maxsize=64)
def hub_access(repo_id: str, revision: str | None = None) -> tuple[tuple[str, bool], ...]:
    """Extra `from_pretrained` arguments for a Hub id, after one probing request: none when the Hub answers,
    `local_files_only` when it cannot be reached but the model is in the local cache; `HubUnreachableError`
    when it cannot be reached and the model is not cached, `ModelLoadError` when the Hub has no such model or
    revision. A tuple of items (cached per process); `dict(...)` it."""
    if constants.HF_HUB_OFFLINE:
        return ()
    try:
        with unreachable_hub_as_error(repo_id):
            url = hf_hub_url(repo_id, CONFIG_FILE, revision=revision, endpoint=constants.ENDPOINT)
            get_hf_file_metadata(url, timeout=HUB_TIMEOUT)
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise ModelLoadError(
            f"{repo_id}: {error_summary(error)} (not a folder here, and not a model on the Hub that this account can "
            "read; a private or gated one needs `hf auth login`)"
        ) from None
    except HfHubHTTPError:
        return ()  # the Hub answered: transformers reports what it said
    except HubUnreachableError:
        if isinstance(try_to_load_from_cache(repo_id, CONFIG_FILE, revision=revision), str):
            return (("local_files_only", True),)
        raise
    return ()


def _access(source: str, revision: str | None) -> dict:
    return {} if Path(source).is_dir() else dict(hub_access(source, revision))


def read_model_config(source, revision: str | None = None) -> dict:
    """The folder's (or Hub repository's) config.json as a dict, read as data (no code runs)."""
    source = model_source(source)
    try:
        config, _ = PretrainedConfig.get_config_dict(source, revision=revision, **_access(source, revision))
    except (OSError, ValueError) as error:
        if isinstance(error, ExHubertError):
            raise
        raise ModelLoadError(f"{source}: cannot read {CONFIG_FILE} ({error_summary(error)})") from error
    return config


def load_audio_classifier(source, revision: str | None = None, trust_remote_code: bool = False) -> PreTrainedModel:
    """The audio-classification model in a folder or Hub repository (see the module docstring for the policy).

    `source` may also be a loaded model, which is returned as it is."""
    if isinstance(source, PreTrainedModel):
        return source
    source = model_source(source)
    config = read_model_config(source, revision)
    model_type = config.get("model_type")
    model_class = BUILT_IN_CLASSIFIERS.get(model_type)
    access = _access(source, revision)
    if model_class is not None:
        _check_safetensors(source)
    try:
        if model_class is not None:
            model, info = model_class.from_pretrained(
                source, revision=revision, output_loading_info=True, use_safetensors=True, **access
            )
        else:
            model, info = AutoModelForAudioClassification.from_pretrained(
                source, revision=revision, trust_remote_code=trust_remote_code, output_loading_info=True, **access
            )
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, SafetensorError, pickle.UnpicklingError) as error:
        reason = error_summary(error)
        if "ignore_mismatched_sizes" in str(error):
            reason = "tensors in the weights have other shapes than config.json says (e.g. another hidden_size)"
        if model_class is None and not trust_remote_code and "trust_remote_code" in str(error):
            reason += "; it runs Python code from the model folder: pass --trust-remote-code (trust_remote_code=True) only if you trust it"
        raise ModelLoadError(f"{source}: cannot load the {model_type or 'unknown'} model ({reason})") from error
    check_loading_info(source, info)
    return model


def _check_safetensors(source: str) -> None:
    """ExHuBERT and HuBERT weights are read from safetensors only: a local folder with only pickle weights
    (`pytorch_model.bin`; unpickling can run code) is refused with the reason."""
    folder = Path(source)
    if folder.is_dir() and not any((folder / name).is_file() for name in SAFETENSORS_FILES):
        pickles = sorted(path.name for path in folder.glob("*.bin")) + sorted(path.name for path in folder.glob("*.pt*"))
        found = f"it has only {', '.join(pickles)} (pickle: loading one can run code)" if pickles else "it has no weights"
        raise ModelLoadError(f"{source}: no model.safetensors; {found}. Weights are read from safetensors only")


def check_loading_info(source, info: dict) -> None:
    """`ModelLoadError` listing the tensors that were missing, unexpected or of the wrong shape."""
    problems = {kind.replace("_", " "): sorted(map(str, info.get(kind) or ())) for kind in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    problems = {kind: keys for kind, keys in problems.items() if keys}
    if problems:
        details = "; ".join(f"{kind}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}" for kind, keys in problems.items())
        raise ModelLoadError(f"{source}: the weights do not fit the model ({details})")


def load_feature_extractor(source, model_config, revision: str | None = None, trust_remote_code: bool = False):
    """The folder's feature extractor (`preprocessor_config.json`), or the default one for the model's config
    when the folder has none (or `source` is a loaded model that was not read from a folder). For ExHuBERT and
    HuBERT models it is always transformers' `Wav2Vec2FeatureExtractor` reading the file as data; only another
    model type with `trust_remote_code` may bring its own class."""
    if isinstance(source, PreTrainedModel):
        folder = source.name_or_path
        if not folder or not Path(folder).is_dir():
            return default_feature_extractor(model_config)
        source = folder
    source = model_source(source)
    built_in = getattr(model_config, "model_type", None) in BUILT_IN_CLASSIFIERS
    try:
        if built_in:
            return Wav2Vec2FeatureExtractor.from_pretrained(source, revision=revision, **_access(source, revision))
        return AutoFeatureExtractor.from_pretrained(
            source, revision=revision, trust_remote_code=trust_remote_code, **_access(source, revision)
        )
    except (OSError, ValueError):
        return default_feature_extractor(model_config)


def config_json(folder) -> dict:
    """A local folder's config.json as a dict ({} when it has none); for checks that must not import anything."""
    path = Path(folder) / CONFIG_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError as error:
        raise ModelLoadError(f"{path}: not valid JSON ({error})") from error


__all__ = [
    "BUILT_IN_CLASSIFIERS",
    "check_loading_info",
    "config_json",
    "hub_access",
    "load_audio_classifier",
    "load_feature_extractor",
    "model_source",
    "read_model_config",
    "unreachable_hub_as_error",
]
