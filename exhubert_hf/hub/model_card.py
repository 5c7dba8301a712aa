"""The Hugging Face Hub model card (README.md) of an ExHuBERT model folder.

    from exhubert_hf.model_card import write_model_card
    write_model_card("exhubert-large", results="runs/large/results.json", repo_id="exhubert-hf/exhubert-large")

The card is rendered from the one template, `exhubert_hf/templates/model_card.md`: YAML front matter
built with `huggingface_hub.ModelCardData` (library, pipeline tag, tags, license, base model, datasets,
metrics and a `model-index` with one result per evaluated corpus: task audio-classification, the corpus,
metrics `uar` (unweighted average recall) and `accuracy` (WA, weighted accuracy)), then the body: what
the model is, the classes, usage with the Auto classes / the pipeline / the CLI, the architecture, the
training summary, the evaluation table and limitations.

`results` is the training output `results.json` (a dict or a path):
    {"split": "test",
     "per_corpus": {corpus: {"uar": float, "wa": float, "num_clips": int}},
     "mean": {"uar": float, "wa": float}}

Command line: `exhubert model-card FOLDER [--results results.json] [--repo-id ID] [--base-model ID]
[--dataset NAME]... [--license L] [--overwrite]`.
"""

import json
import re
from importlib import resources
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..configuration_exhubert import EXHUBERT_LABELS

CARD_FILE = "README.md"
TAGS = ("speech-emotion-recognition", "hubert", "exhubert", "audio-classification")
TEMPLATE = ("templates", "model_card.md")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


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
        if not isinstance(metrics, dict) or not isinstance(metrics.get("uar"), (int, float)):
            raise ValueError(f"results for corpus {corpus!r} need a numeric 'uar', got {metrics!r}")
    return results


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
        base_model = (config.get("converted_from") or {}).get("source")
    eval_results = None
    if results:
        split = results.get("split", "test")
        eval_results = []
        for corpus, metrics in results["per_corpus"].items():
            common = dict(task_type="audio-classification", task_name="Speech emotion recognition", dataset_type=corpus, dataset_name=corpus, dataset_split=split)
            eval_results.append(EvalResult(metric_type="uar", metric_name="UAR (unweighted average recall)", metric_value=float(metrics["uar"]), **common))
            if isinstance(metrics.get("wa"), (int, float)):
                eval_results.append(EvalResult(metric_type="accuracy", metric_name="WA (weighted accuracy)", metric_value=float(metrics["wa"]), **common))
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
) -> str:
    """The README.md text for a model folder (nothing is written)."""
    folder = Path(folder)
    config = _config(folder)
    results = load_results(results)
    model_name = repo_id.split("/")[-1] if repo_id else (folder.resolve().name or "ExHuBERT")
    card_data = build_card_data(config, results, base_model, datasets, license, model_name)
    values = {
        "card_data": card_data.to_yaml(),
        "model_name": model_name,
        "repo_id": repo_id or "REPO_ID",
        "classes_table": _classes_table(config),
        "architecture": _architecture(config),
        "training": _training(config, card_data.base_model, training_notes),
        "evaluation": _evaluation(results),
    }

    def substitute(match):
        key = match.group(1)
        if key not in values:
            raise KeyError(f"the model card template uses an unknown placeholder {{{{ {key} }}}}")
        return values[key]

    text = _PLACEHOLDER.sub(substitute, load_template())
    ModelCard(text)  # raises if the front matter does not parse
    return text


def write_model_card(
    folder,
    results=None,
    base_model=None,
    datasets=None,
    license: str = "apache-2.0",
    repo_id: str | None = None,
    training_notes: str | None = None,
) -> Path:
    """Writes (replaces) FOLDER/README.md; returns its path."""
    path = Path(folder) / CARD_FILE
    path.write_text(render_model_card(folder, results, base_model, datasets, license, repo_id, training_notes), encoding="utf-8")
    return path


def _classes_table(config: dict) -> str:
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
    sources = config.get("num_source_layers")
    copies = config.get("num_copies_per_layer")
    layers = config.get("num_hidden_layers")
    lines = [
        f"- Encoder: {layers} transformer layers = {sources} pretrained HuBERT layers, each followed by {copies} "
        f"trainable cop{'y' if copies == 1 else 'ies'} (`h + gate(copy(h))`, gates initialised to zero)"
        + ("; the original layers carry identity-initialised gates too" if config.get("original_layer_gates") else ""),
        f"- Hidden size {config.get('hidden_size')}, {config.get('num_attention_heads')} attention heads, "
        f"{'pre-LN (HuBERT Large style)' if config.get('do_stable_layer_norm') else 'post-LN (HuBERT Base style)'}",
        "- Head: linear projection, mean pooling over time, linear classifier over the six classes",
        "- Input: 16 kHz mono waveform, normalised per utterance by the feature extractor",
    ]
    return "\n".join(lines)


def _training(config: dict, base_model, notes: str | None) -> str:
    frozen = []
    if config.get("freeze_feature_encoder", True):
        frozen.append("the convolutional feature encoder")
    if config.get("freeze_original_layers", True):
        frozen.append("the original HuBERT layers")
    lines = []
    if base_model:
        lines.append(f"- Starting point: `{base_model}`")
    converted = config.get("converted_from")
    if converted:
        lines.append(
            f"- Converted losslessly from `{converted.get('source')}` (revision `{converted.get('revision')}`) "
            "into the `exhubert-hf` format"
        )
    lines.append(
        "- Block expansion, then fine-tuning on speech emotion corpora mapped to the six arousal × valence "
        "classes" + (f"; frozen: {' and '.join(frozen)}" if frozen else "")
    )
    if notes:
        lines.append(notes.strip())
    return "\n".join(lines)


def _evaluation(results: dict | None) -> str:
    if not results:
        return "No evaluation results were attached when this card was written."
    split = results.get("split", "test")
    lines = [
        f"On the `{split}` split of each corpus. UAR: unweighted average recall (mean of the per-class "
        "recalls), WA: weighted accuracy (plain accuracy).",
        "",
        "| corpus | UAR | WA | clips |",
        "|---|---:|---:|---:|",
    ]
    for corpus, metrics in results["per_corpus"].items():
        lines.append(f"| {corpus} | {_number(metrics.get('uar'))} | {_number(metrics.get('wa'))} | {metrics.get('num_clips', '')} |")
    mean = results.get("mean") or {}
    if mean:
        lines.append(f"| **mean over corpora** | {_number(mean.get('uar'))} | {_number(mean.get('wa'))} | |")
    return "\n".join(lines)


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else ""


__all__ = ["CARD_FILE", "TAGS", "build_card_data", "load_results", "load_template", "render_model_card", "write_model_card"]
