"""Conversion of the published ExHuBERT checkpoint (`amiriparian/ExHuBERT`) into this package's format.

The published checkpoint cannot be used on current transformers: its remote code imports the removed
`transformers.deepspeed`, it ships only a pickle `pytorch_model.bin` and no feature-extractor config, and
its model ignores `labels`. Its weights, though, are a HuBERT Large with 48 encoder layers (original,
copy, original, copy, ...), each followed by a linear `gate_bb_linear`, and each pair computing
`copy(orig(x)) + orig(x)`. That is exactly an `ExHubertForSequenceClassification` with one copy per layer
and gates on the originals, so the conversion is a lossless renaming of keys.

    exhubert convert-official amiriparian/ExHuBERT exhubert-converted --revision <40-hex commit>
"""

import hashlib
import json
import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, HTTPError, RepositoryNotFoundError
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from safetensors.torch import load_file
from transformers import HubertConfig

from ..configuration_exhubert import EXHUBERT_LABELS, SAMPLING_RATE, ExHubertConfig
from ..errors import InputError, ModelLoadError, OutputExistsError
from ..loading import model_source
from ..modeling_exhubert import ExHubertForSequenceClassification, default_feature_extractor
from ..preprocessing import Preprocessing

PUBLISHED_REPO_ID = "amiriparian/ExHuBERT"
PUBLISHED_CLIP_SAMPLES = 3 * SAMPLING_RATE  # the release pads every clip to 3 s (max_length=48000)
CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
PICKLE_FILE = "pytorch_model.bin"

_POS_CONV = "hubert.encoder.pos_conv_embed.conv."
# The published file may come from a torch before or after `nn.utils.parametrizations.weight_norm`.
_WEIGHT_NORM_NAMES = {
    _POS_CONV + "weight_g": _POS_CONV + "parametrizations.weight.original0",
    _POS_CONV + "weight_v": _POS_CONV + "parametrizations.weight.original1",
}
_WEIGHT_NORM_ALIASES = {**_WEIGHT_NORM_NAMES, **{new: old for old, new in _WEIGHT_NORM_NAMES.items()}}
_GATE_KEY = re.compile(r"^(hubert\.encoder\.layers\.(\d+))\.gate\.(weight|bias)$")


def published_feature_extractor(config: ExHubertConfig):
    """How the release runs its model (the inference snippet of the `amiriparian/ExHuBERT` model card):
    `facebook/hubert-base-ls960`'s feature extractor (per-clip normalisation, no attention mask) called with
    `padding="max_length", max_length=48000`, i.e. every clip zero-padded to 3 s and the whole padded vector
    normalised. Recorded in the feature extractor for `exhubert_hf.preprocessing`."""
    feature_extractor = default_feature_extractor(config, return_attention_mask=False)
    Preprocessing(normalize=True, normalize_padding=True, pad_to_samples=PUBLISHED_CLIP_SAMPLES, attention_mask=False).record(feature_extractor)
    return feature_extractor


def exhubert_config_from_published(published_config: Mapping, original_layer_gates: bool) -> ExHubertConfig:
    """Our config for the published `config.json` (a HuBERT config whose `num_hidden_layers` counts
    originals and copies), with the six readable ExHuBERT labels in the published head's order."""
    settings = dict(published_config)
    if settings.get("model_type") != "hubert":
        hint = (
            "; it is already in this package's format, load it with from_pretrained"
            if settings.get("model_type") == ExHubertConfig.model_type
            else ""
        )
        raise InputError(
            f"the published ExHuBERT config has model_type 'hubert', this one {settings.get('model_type')!r}{hint}"
        )
    hubert_config = HubertConfig.from_dict(settings)
    if hubert_config.num_hidden_layers % 2:
        raise InputError(
            f"num_hidden_layers={hubert_config.num_hidden_layers} is odd; the published layout alternates "
            "original and copy layers, so it counts an even number"
        )
    if not hubert_config.do_stable_layer_norm:
        raise InputError(
            "do_stable_layer_norm is false; the published ExHuBERT is a pre-LN HuBERT Large (do_stable_layer_norm "
            "true), and converting a post-LN config would change what its layers compute"
        )
    if hubert_config.num_labels != len(EXHUBERT_LABELS):
        raise InputError(
            f"the config has {hubert_config.num_labels} labels; the published ExHuBERT head has the "
            f"{len(EXHUBERT_LABELS)} arousal/valence classes"
        )
    return ExHubertConfig.from_hubert_config(
        hubert_config,
        num_source_layers=hubert_config.num_hidden_layers // 2,
        num_copies_per_layer=1,
        original_layer_gates=original_layer_gates,
        id2label=dict(enumerate(EXHUBERT_LABELS)),
        label2id=None,
    )


def convert_published_state_dict(
    published_state: Mapping[str, torch.Tensor], published_config: Mapping, checkpoint_name: str = "the checkpoint"
) -> tuple[ExHubertConfig, dict[str, torch.Tensor]]:
    """Our config and state dict for a published-layout state dict and `config.json`.

    Every key is mapped (gates `gate_bb_linear` -> `gate`, the positional conv's weight-norm names to the
    ones our model uses); keys left over or missing are an error. Works on meta tensors. The originals'
    gates are dropped only when all of them are exactly the identity (never for meta tensors, whose
    values are unknown); otherwise all are kept, which is always lossless.
    """
    config = exhubert_config_from_published(published_config, original_layer_gates=True)
    with torch.device("meta"):
        expected = ExHubertForSequenceClassification(config).state_dict()
    candidates = {key: _published_names(key) for key in expected}
    sources = {key: next((name for name in names if name in published_state), None) for key, names in candidates.items()}
    missing = sorted(" or ".join(candidates[key]) for key, source in sources.items() if source is None)
    unexpected = sorted(set(published_state) - set(sources.values()))
    if missing or unexpected:
        raise InputError(
            f"{checkpoint_name} does not have the published ExHuBERT layout for its config "
            f"({config.num_hidden_layers} encoder layers, each with a gate_bb_linear)"
            + "".join(f"\n  {kind}:\n    " + "\n    ".join(keys)
                      for kind, keys in (("missing keys", missing), ("unexpected keys", unexpected)) if keys)
        )
    state = {key: published_state[source] for key, source in sources.items()}
    wrong_shapes = [
        f"{sources[key]}: {tuple(state[key].shape)}, expected {tuple(tensor.shape)}"
        for key, tensor in expected.items()
        if state[key].shape != tensor.shape
    ]
    if wrong_shapes:
        raise InputError(f"{checkpoint_name} has tensors of the wrong shape for its config:\n  " + "\n  ".join(wrong_shapes))
    original_gates = {key for key in state if (match := _GATE_KEY.match(key)) and not config.is_copy(int(match[2]))}
    if all(_is_exact_identity(key, state) for key in original_gates if key.endswith(".weight")):
        config = exhubert_config_from_published(published_config, original_layer_gates=False)
        state = {key: tensor for key, tensor in state.items() if key not in original_gates}
    return config, state


def _published_names(key: str) -> tuple[str, ...]:
    """The names a key of our state dict may have in the published checkpoint."""
    published = _GATE_KEY.sub(r"\1.gate_bb_linear.\3", key)
    return (published, _WEIGHT_NORM_ALIASES[key]) if key in _WEIGHT_NORM_ALIASES else (published,)


def _is_exact_identity(gate_weight_key: str, state: Mapping[str, torch.Tensor]) -> bool:
    weight = state[gate_weight_key]
    bias = state[gate_weight_key.removesuffix("weight") + "bias"]
    if weight.is_meta or bias.is_meta:
        return False
    return torch.equal(weight, torch.eye(*weight.shape, dtype=weight.dtype)) and not torch.count_nonzero(bias)


def load_published_weights(weights_path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in a `model.safetensors`, or in a `pytorch_model.bin` read with `weights_only=True`: a
    file that needs unrestricted pickle (which can run arbitrary code) is refused."""
    weights_path = Path(weights_path)
    if weights_path.suffix == ".safetensors":
        try:
            return load_file(weights_path)
        except SafetensorError as error:
            raise InputError(f"{weights_path} is not a readable safetensors file: {error}") from error
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise InputError(
            f"{weights_path} holds objects other than tensors, which only unrestricted pickle can load, and "
            f"unpickling can run arbitrary code, so it was not loaded. The published checkpoint holds tensors "
            f"only; get it from its original source. (torch: {str(error).splitlines()[-1]})"
        ) from error
    except (RuntimeError, EOFError) as error:  # how torch reports a truncated or corrupt file
        raise InputError(f"{weights_path} is not a readable PyTorch checkpoint: {error}") from error
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(tensor, torch.Tensor) for key, tensor in state.items()
    ):
        raise InputError(f"{weights_path} does not hold a state dict (parameter names mapped to tensors)")
    return dict(state)


def convert_official_checkpoint(
    source: str | Path, destination: str | Path, revision: str | None = None, overwrite: bool = False
) -> Path:
    """Convert the published ExHuBERT checkpoint into a folder in this package's format and return it.

    `source` is a local folder or a Hub model id (`revision`: a branch, tag or full commit hash, Hub ids
    only). The folder gets `model.safetensors`, `config.json` (six readable labels, `converted_from`: the
    source, the resolved commit, the weights file and its SHA-256), `preprocessor_config.json` (the
    documented preprocessing) and the remote-code files, so it loads with
    `AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True)` without this package.
    An existing non-empty `destination` is an error unless `overwrite`.
    """
    destination = Path(destination)
    if destination.is_file() or (destination.is_dir() and any(destination.iterdir()) and not overwrite):
        raise OutputExistsError(
            f"{destination} already exists and is not an empty folder; choose another destination or allow "
            "overwriting (overwrite=True, --overwrite)"
        )
    config_path, weights_path, provenance = _fetch_published_files(source, revision)
    if destination.resolve() == weights_path.parent.resolve():
        raise InputError(f"{destination} holds the checkpoint being converted; write the conversion elsewhere")
    try:
        published_config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{config_path} is not valid JSON: {error}") from error
    config, state = convert_published_state_dict(
        load_published_weights(weights_path), published_config, checkpoint_name=str(weights_path)
    )
    config.converted_from = provenance
    with torch.device("meta"):
        model = ExHubertForSequenceClassification(config)
    # assign=True takes the loaded tensors as the parameters: no second copy of a 2.7 GB model.
    model.load_state_dict(state, strict=True, assign=True)
    destination.mkdir(parents=True, exist_ok=True)
    published_feature_extractor(config).save_pretrained(destination)
    model.save_pretrained(destination)
    return destination


def _fetch_published_files(source: str | Path, revision: str | None) -> tuple[Path, Path, dict]:
    """Local paths of the config and weights file, and the provenance to record: for a Hub id, both are
    downloaded at the commit that `revision` resolves to, so that the record pins exactly what was read. A
    path-like `source` that does not exist is "folder not found" at once (`loading.model_source`), never a Hub id."""
    source = model_source(source)
    folder = Path(source)
    if folder.is_dir():
        if revision is not None:
            raise InputError(f"a revision pins a Hub commit, but {source} is a local folder; leave it out")
        weights_path = _weights_file(folder, {path.name for path in folder.iterdir()})
        config_path = folder / CONFIG_FILE
        if not config_path.is_file():
            raise ModelLoadError(f"{folder} has no {CONFIG_FILE}")
        return config_path, weights_path, _provenance(str(folder.resolve()), None, weights_path)
    repo_id = str(source)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ModelLoadError(f"{source} is neither a local folder nor a Hub model id") from error
    try:
        info = HfApi().model_info(repo_id, revision=revision)
        commit = info.sha
        file_names = {sibling.rfilename for sibling in info.siblings or ()}
        weights_name = _weights_file(Path(f"{repo_id}@{commit}"), file_names).name
        config_path = Path(hf_hub_download(repo_id, CONFIG_FILE, revision=commit))
        weights_path = Path(hf_hub_download(repo_id, weights_name, revision=commit))
    except RepositoryNotFoundError as error:
        raise ModelLoadError(
            f"{source} is neither a local folder nor a Hub model that can be read (a private or gated one needs "
            f"`hf auth login`): {error}"
        ) from error
    except HfHubHTTPError:
        raise  # already says what the Hub answered (e.g. an unknown revision)
    except HTTPError as error:  # the Hub could not be reached at all
        raise ConnectionError(f"could not reach the Hub to fetch {repo_id}: {error}") from error
    return config_path, weights_path, _provenance(repo_id, commit, weights_path)


def _weights_file(folder: Path, file_names: set[str]) -> Path:
    for name in (SAFETENSORS_FILE, PICKLE_FILE):
        if name in file_names:
            return folder / name
    raise ModelLoadError(f"{folder} has neither {SAFETENSORS_FILE} nor {PICKLE_FILE}")


def _provenance(source: str, commit: str | None, weights_path: Path) -> dict:
    digest = hashlib.sha256()
    with open(weights_path, "rb") as weights:
        for block in iter(lambda: weights.read(1 << 24), b""):
            digest.update(block)
    return {"source": source, "revision": commit, "weights_file": weights_path.name, "weights_sha256": digest.hexdigest()}


__all__ = ["PUBLISHED_CLIP_SAMPLES", "PUBLISHED_REPO_ID", "published_feature_extractor", "convert_official_checkpoint", "convert_published_state_dict", "exhubert_config_from_published", "load_published_weights"]
