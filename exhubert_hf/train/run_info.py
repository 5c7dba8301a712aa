"""`run_info.json`: what a training run started from, written into its output_dir, read (as JSON) when the run is
published (`exhubert push`, `exhubert export-model`: the model card's base model and training summary).

    {"base_model": "facebook/hubert-large-ll60k" | "runs/stage1" | null (a tiny random model),
     "base_model_revision": null, "hub_base_model": the nearest Hub id in the chain of starting models (a local
     stage-1 folder gives its own run's), "stage": "stage1" | "stage2" | "expand-only", "corpora": ["emodb", ...],
     "num_copies_per_layer": 1 (stage2), "load_best_model_at_end": true, "exhubert_hf_version": "0.1.0"}

Local paths are recorded for the user's own reference; nothing publishes them (the card names only Hub ids).
"""

import json
from pathlib import Path

from ..data.plan import MANIFEST_PREFIX, parse_corpus_entries
from ..fileio import write_text_atomic
from ..modeling_exhubert import looks_like_local_path

RUN_INFO_FILE = "run_info.json"


def read_run_info(folder) -> dict:
    """The folder's run_info.json ({} when it has none or it is not a JSON object)."""
    path = Path(folder) / RUN_INFO_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def describe_run(model_args, data_args, training_args) -> dict:
    from .. import __version__

    base = None if model_args.tiny else model_args.model_name_or_path
    is_local = base is not None and (Path(base).expanduser().exists() or looks_like_local_path(base))
    hub_base = read_run_info(Path(base).expanduser()).get("hub_base_model") if is_local else base
    corpora = list(parse_corpus_entries(data_args.corpora)) if data_args.corpora else list(data_args.train_corpora or [])
    info = {
        "base_model": base,
        "base_model_revision": None if model_args.tiny else model_args.model_revision,
        "hub_base_model": hub_base,
        "stage": model_args.stage,
        "corpora": [name.removeprefix(MANIFEST_PREFIX) for name in corpora],
        "load_best_model_at_end": bool(training_args.load_best_model_at_end),
        "exhubert_hf_version": __version__,
    }
    if model_args.stage != "stage1":
        info["num_copies_per_layer"] = model_args.num_copies_per_layer
    return info


def write_run_info(output_dir, model_args, data_args, training_args) -> Path:
    """Writes (replaces) OUTPUT_DIR/run_info.json."""
    path = Path(output_dir) / RUN_INFO_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, json.dumps(describe_run(model_args, data_args, training_args), indent=2) + "\n", overwrite=True)


__all__ = ["RUN_INFO_FILE", "describe_run", "read_run_info", "write_run_info"]
