"""The Hugging Face Hub model card (README.md) of an ExHuBERT (or stage-1 HuBERT) model folder.

    from exhubert_hf.hub.model_card import write_model_card
    write_model_card("exhubert-large", results="runs/large/results.json", repo_id="exhubert-hf/exhubert-large")

The card is rendered from the one template, `exhubert_hf/hub/templates/model_card.md`: YAML front matter
built with `huggingface_hub.ModelCardData` (library, pipeline tag, tags, license, base model, datasets,
metrics and a `model-index` with one result per evaluated corpus: task audio-classification, the corpus,
metrics `uar` (unweighted average recall) and `accuracy` (WA, weighted accuracy), and `ccc` per dimension for a
model with a dimensional head), then the body: what
the model is, the classes, usage with the Auto classes / the pipeline / the CLI (with `trust_remote_code=True`
for an ExHuBERT, without for a stock HuBERT), the architecture, the training summary (from the run's
`run_info.json` when there is one), the evaluation table, the run's plots as figures and limitations.
`base_model` is only ever a Hub id: a local path never goes into a card.

`results` is the training output `results.json` (a dict or a path):
    {"split": "test",
     "per_corpus": {corpus: {"uar": float, "wa": float, "num_clips": int}},
     "mean": {"uar": float, "wa": float}}
with, for a model with dimensions, `"dimensions": {name: {"ccc": float, "pearson": float, ...}}` in each corpus
(and no "uar" / "wa" for a model with dimensions only).

Command line: `exhubert model-card FOLDER [--results results.json] [--repo-id ID] [--base-model ID]
[--dataset NAME]... [--license L] [--overwrite]`.
"""

import json
import re
from importlib import resources
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..configuration_exhubert import EXHUBERT_LABELS
from ..fileio import write_text_atomic
from ..modeling_exhubert import looks_like_local_path

CARD_FILE = "README.md"
TAGS = ("speech-emotion-recognition", "hubert", "exhubert", "audio-classification")
TEMPLATE = ("templates", "model_card.md")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_SIX_CLASSES = (
    "This model recognises emotion in speech as six classes: low or high **arousal** crossed with negative, "
    "neutral or positive **valence**."
)
SUMMARIES = {
    "exhubert": _SIX_CLASSES
    + " It is an ExHuBERT model: a HuBERT whose transformer encoder was enlarged by *backbone block expansion* "
    "(Amiriparian et al., \"ExHuBERT: Enhancing HuBERT Through Block Extension and Fine-Tuning on 37 Emotion "
    "Datasets\", Interspeech 2024). Every encoder layer is followed by trainable copies of itself, each joined "
    "through a linear gate that starts at zero, so training begins from exactly the pretrained HuBERT and the "
    "copies learn the emotion task while the originals stay frozen. The paper's HuBERT Large is "
    "[`facebook/hubert-large-ls960-ft`](https://huggingface.co/facebook/hubert-large-ls960-ft); this model's own "
    "starting point is listed under Training.",
    "hubert": _SIX_CLASSES
    + " It is a HuBERT fine-tuned for them: stage 1 of the ExHuBERT recipe (Amiriparian et al., \"ExHuBERT: "
    "Enhancing HuBERT Through Block Extension and Fine-Tuning on 37 Emotion Datasets\", Interspeech 2024), the "
    "HuBERT fine-tuned round-robin over emotion corpora before block expansion.",
}
CODE_NOTES = {
    "exhubert": "The model code ships with the checkpoint (`configuration_exhubert.py`, `modeling_exhubert.py`), so it "
    "loads with `trust_remote_code=True` on plain `transformers`. Pin a commit with `revision=` when you load "
    "remote code. With the `exhubert-hf` package installed, `trust_remote_code` is not needed.",
    "hubert": "The model is a stock `HubertForSequenceClassification`: it loads with plain `transformers`, no remote "
    "code.",
}


def load_template() -> str:
    return resources.files("exhubert_hf").joinpath("hub", *TEMPLATE).read_text(encoding="utf-8")


def load_results(results) -> dict | None:
    """The results dict (validated), from a dict or a path to results.json; None stays None."""
    if results is None:
        return None
    if not isinstance(results, dict):
        results = json.loads(Path(results).read_text(encoding="utf-8"))
    per_corpus = results.get("per_corpus")
    if not isinstance(per_corpus, dict) or not per_corpus:
        raise ValueError("results need a non-empty 'per_corpus' mapping {corpus: {'uar': ..., 'wa': ..., 'num_clips': ...}}")
    for corpus, metrics in per_corpus.items():
        if not isinstance(metrics, dict) or not (isinstance(metrics.get("uar"), (int, float)) or _dimensions(metrics)):
            raise ValueError(f"results for corpus {corpus!r} need a numeric 'uar' or dimensions with a 'ccc', got {metrics!r}")
    return results


def _dimensions(metrics: dict) -> dict[str, dict]:
    """{dimension: {"ccc", "pearson", ...}} of a corpus's results, the dimensions with a numeric CCC only."""
    given = metrics.get("dimensions")
    if not isinstance(given, dict):
        return {}
    return {name: values for name, values in given.items() if isinstance(values, dict) and isinstance(values.get("ccc"), (int, float))}


def _config(folder: Path) -> dict:
    path = folder / "config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def build_card_data(
    config: dict,
    results: dict | None = None,
    base_model=None,
    datasets=None,
    license: str = "apache-2.0",
    model_name: str = "ExHuBERT",
) -> ModelCardData:
    """The card's YAML metadata. Corpora in `results` each give one model-index result with the metrics
    `uar` and `accuracy` (WA) on the results' split."""
    if base_model is None:
        base_model = hub_id_or_none((config.get("converted_from") or {}).get("source"))
    eval_results = None
    if results:
        split = results.get("split", "test")
        eval_results = []
        for corpus, metrics in results["per_corpus"].items():
            common = dict(task_type="audio-classification", task_name="Speech emotion recognition", dataset_type=corpus, dataset_name=corpus, dataset_split=split)
            if isinstance(metrics.get("uar"), (int, float)):
                eval_results.append(EvalResult(metric_type="uar", metric_name="UAR (unweighted average recall)", metric_value=float(metrics["uar"]), **common))
            if isinstance(metrics.get("wa"), (int, float)):
                eval_results.append(EvalResult(metric_type="accuracy", metric_name="WA (weighted accuracy)", metric_value=float(metrics["wa"]), **common))
            for name, values in _dimensions(metrics).items():
                eval_results.append(EvalResult(metric_type="ccc", metric_name=f"CCC ({name})", metric_value=float(values["ccc"]),
                                               metric_config=name, **common))  # fmt: skip
    return ModelCardData(
        library_name="transformers",
        pipeline_tag="audio-classification",
        tags=list(TAGS),
        license=license,
        base_model=base_model,
        datasets=[datasets] if isinstance(datasets, str) else (list(datasets) if datasets else None),
        metrics=["recall", "accuracy"],
        model_name=model_name,
        eval_results=eval_results,
    )


def render_model_card(
    folder,
    results=None,
    base_model=None,
    datasets=None,
    license: str = "apache-2.0",
    repo_id: str | None = None,
    training_notes: str | None = None,
    run: dict | None = None,
    figures=(),
    model_name: str | None = None,
) -> str:
    """The README.md text for a model folder (nothing is written). `run` is the training run's `run_info.json`
    (its Hub base model and summary), `figures` the paths of PNG plots inside the folder, shown in the card;
    the model is named after `repo_id`, else `model_name`, else the folder."""
    folder = Path(folder)
    config = _config(folder)
    results = load_results(results)
    run = run or {}
    kind = "hubert" if config.get("model_type") == "hubert" else "exhubert"
    model_name = repo_id.split("/")[-1] if repo_id else (model_name or folder.resolve().name or "ExHuBERT")
    if base_model is None:
        base_model = hub_id_or_none(run.get("hub_base_model"))
    card_data = build_card_data(config, results, base_model, datasets, license, model_name)
    values = {
        "card_data": card_data.to_yaml(),
        "model_name": model_name,
        "summary": _summary(kind, config),
        "code_note": CODE_NOTES[kind],
        "remote_code_argument": ", trust_remote_code=True" if kind == "exhubert" else "",
        "repo_id": repo_id or "REPO_ID",
        "classes_table": _classes_table(config),
        "architecture": _architecture(config),
        "training": _training(config, card_data.base_model, training_notes, run),
        "evaluation": _evaluation(results),
        "figures": _figures(figures),
    }

    def substitute(match):
        key = match.group(1)
        if key not in values:
            raise KeyError(f"the model card template uses an unknown placeholder {{{{ {key} }}}}")
        return values[key]

    text = _PLACEHOLDER.sub(substitute, load_template())
    ModelCard(text)  # raises if the front matter does not parse
    return text


def write_model_card(folder, **card) -> Path:
    """Writes (replaces) FOLDER/README.md atomically, rendered by `render_model_card(folder, **card)`; returns its
    path."""
    text = render_model_card(folder, **card)
    return write_text_atomic(Path(folder) / CARD_FILE, text, overwrite=True)


def hub_id_or_none(source) -> str | None:
    """`source` when it is a Hub id, else None: a local path (`/home/...`, `runs/stage1`) never goes into a card."""
    if not isinstance(source, str) or looks_like_local_path(source) or Path(source).expanduser().exists():
        return None
    try:
        validate_repo_id(source)
    except HFValidationError:
        return None
    return source


def _summary(kind: str, config: dict) -> str:
    dimensions = ", ".join(config.get("dimensions") or ())
    if not dimensions:
        return SUMMARIES[kind]
    if not _has_classes(config):
        return SUMMARIES[kind].replace(_SIX_CLASSES, f"This model rates emotion in speech as continuous {dimensions}, each in [0, 1] (no classes).")
    return SUMMARIES[kind] + (
        f" It also rates continuous {dimensions}, each in [0, 1]: a regression head on the pooled output "
        "(`config.dimensions`; `outputs.dimensions`, and `dim_<name>` columns from `exhubert predict`)."
    )


def _has_classes(config: dict) -> bool:
    return config.get("id2label", EXHUBERT_LABELS) != {}  # a model with dimensions only saves no labels


def _head_parts(config: dict) -> list[str]:
    parts = ["linear classifier over the six classes"] * _has_classes(config)
    if config.get("dimensions"):
        parts.append(f"a linear map and a sigmoid to {', '.join(config['dimensions'])} in [0, 1]")
    return parts


def _classes_table(config: dict) -> str:
    if not _has_classes(config):
        return "| | none: this model rates the dimensions only | | |"
    id2label = config.get("id2label") or dict(enumerate(EXHUBERT_LABELS))
    rows = []
    for index in sorted(id2label, key=int):
        label = id2label[index]
        match = re.fullmatch(r"(\w+) arousal, (\w+) valence", label)
        arousal, valence = match.groups() if match else ("", "")
        rows.append(f"| {index} | {label} | {arousal} | {valence} |")
    return "\n".join(rows)


def _architecture(config: dict) -> str:
    if not config:
        return "(config.json not found when this card was written)"
    layers = config.get("num_hidden_layers")
    if config.get("model_type") == "hubert":
        encoder = f"- Encoder: {layers} HuBERT transformer layers (no block expansion)"
    else:
        copies = config.get("num_copies_per_layer")
        encoder = (
            f"- Encoder: {layers} transformer layers = {config.get('num_source_layers')} pretrained HuBERT layers, "
            f"each followed by {copies} trainable cop{'y' if copies == 1 else 'ies'} (`h + gate(copy(h))`, gates "
            "initialised to zero)"
            + ("; the original layers carry identity-initialised gates too" if config.get("original_layer_gates") else "")
        )
    lines = [
        encoder,
        f"- Hidden size {config.get('hidden_size')}, {config.get('num_attention_heads')} attention heads, "
        f"{'pre-LN (HuBERT Large style)' if config.get('do_stable_layer_norm') else 'post-LN (HuBERT Base style)'}",
        "- Head: linear projection, mean pooling over time, " + " and ".join(_head_parts(config)),
        "- Input: 16 kHz mono waveform, normalised per utterance by the feature extractor",
    ]
    return "\n".join(lines)


_STAGES = {
    "stage1": "fine-tuning round-robin over the corpora (each step one corpus's batch)",
    "stage2": "block expansion, then fine-tuning of the copies and the head",
    "expand-only": "block expansion of the starting model, without training",
}


def _training(config: dict, base_model, notes: str | None, run: dict) -> str:
    lines = []
    if base_model:
        through = " (through a local model trained from it)" if run.get("base_model") not in (None, base_model) else ""
        lines.append(f"- Starting point: `{base_model}`{through}")
    elif run and run.get("base_model") is None:
        lines.append("- Starting point: a small randomly initialised HuBERT (a test or demo run)")
    converted = config.get("converted_from")
    if converted:
        lines.append(
            f"- Converted losslessly from `{hub_id_or_none(converted.get('source')) or 'a local copy of the release'}` "
            f"(revision `{converted.get('revision')}`) into the `exhubert-hf` format"
        )
    if run.get("stage") in _STAGES:
        lines.append(f"- Run: {run['stage']}, {_STAGES[run['stage']]}")
    if run.get("corpora"):
        lines.append(f"- Corpora: {', '.join(map(str, run['corpora']))}")
    if run.get("exhubert_hf_version"):
        lines.append(f"- Trained with exhubert-hf {run['exhubert_hf_version']}")
    if config.get("model_type") == "hubert":
        lines.append("- Fine-tuning on speech emotion corpora mapped to the six arousal × valence classes")
    else:
        frozen = [
            part
            for part, key in (("the convolutional feature encoder", "freeze_feature_encoder"), ("the original HuBERT layers", "freeze_original_layers"))
            if config.get(key, True)
        ]
        lines.append(
            "- Block expansion, then fine-tuning on speech emotion corpora mapped to the six arousal × valence "
            "classes" + (f"; frozen: {' and '.join(frozen)}" if frozen else "")
        )
    if notes:
        lines.append(notes.strip())
    return "\n".join(lines)


def _figures(figures) -> str:
    """Markdown images for the run's plots (paths inside the model folder)."""
    if not figures:
        return ""
    lines = ["", "### Plots", ""]
    for path in figures:
        stem = Path(path).stem
        if stem == "validation_uar":
            caption = "Validation UAR per corpus during training"
        elif stem == "validation_ccc":
            caption = "Validation CCC (mean over the dimensions) per corpus during training"
        elif stem.startswith("dimensions_"):
            caption = f"Predicted against true dimensions, {stem.removeprefix('dimensions_')} (test)"
        elif stem.startswith("confusion_"):
            caption = f"Confusion matrix, {stem.removeprefix('confusion_')} (test)"
        else:
            caption = stem.replace("_", " ")
        lines += [f"![{caption}]({Path(path).as_posix()})", ""]
    return "\n".join(lines)


def _evaluation(results: dict | None) -> str:
    if not results:
        return "No evaluation results were attached when this card was written."
    split = results.get("split", "test")
    per_corpus, mean = results["per_corpus"], results.get("mean") or {}
    lines = [f"On the `{split}` split of each corpus."]
    if any(isinstance(metrics.get("uar"), (int, float)) for metrics in per_corpus.values()):
        lines += [
            "UAR: unweighted average recall (mean of the per-class recalls), WA: weighted accuracy (plain accuracy).",
            "",
            "| corpus | UAR | WA | clips |",
            "|---|---:|---:|---:|",
        ]
        for corpus, metrics in per_corpus.items():
            lines.append(f"| {corpus} | {_number(metrics.get('uar'))} | {_number(metrics.get('wa'))} | {metrics.get('num_clips', '')} |")
        if isinstance(mean.get("uar"), (int, float)):
            lines.append(f"| **mean over corpora** | {_number(mean.get('uar'))} | {_number(mean.get('wa'))} | |")
    names = list(dict.fromkeys(name for metrics in per_corpus.values() for name in _dimensions(metrics)))
    if names:
        lines += [
            "",
            "Dimensions in [0, 1]: CCC (concordance correlation coefficient) / Pearson's r, over the clips with a rating.",
            "",
            "| corpus | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for corpus, metrics in [*per_corpus.items(), ("**mean over corpora**", mean)]:
            given = _dimensions(metrics)
            cells = [f"{_number(given[name]['ccc'])} / {_number(given[name].get('pearson'))}" if name in given else "" for name in names]
            lines.append(f"| {corpus} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else ""


__all__ = [
    "CARD_FILE",
    "TAGS",
    "build_card_data",
    "hub_id_or_none",
    "load_results",
    "load_template",
    "render_model_card",
    "write_model_card",
]
