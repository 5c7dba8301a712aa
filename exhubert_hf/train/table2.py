"""The paper's Table 2 protocol: every model (a column of Table 2) fine-tuned on every unseen target corpus, one
run per column and corpus (Figure 3), then the table and the figure.

    result = run_table2(["jl_corpus=/data/jl", "manifest:aesi=/data/aesi.csv"], "runs/table2",
                        stage1_model="runs/stage1_emoset")

`COLUMNS` names each column's bundled config (the paper's settings: 10,000 steps, lr 1e-5, ...); the LS960 columns
start from facebook/hubert-large-ls960-ft, the EmoSet++ ones from the stage-1 model. A run is `exhubert train
--config CONFIG --corpora TARGET --output_dir OUTPUT/runs/COLUMN/CORPUS --resume_from_checkpoint last` through
`run_finetuning`: an interrupted run resumes from its newest complete checkpoint, and a finished one leaves
`table2_run.json` (test UAR/WA, validation UAR per step) and is skipped the next time. After the grid,
`table2.md` / `table2.csv` (measured test UAR beside the paper's numbers from table2_paper.yaml) and `figure3.png`
(validation UAR against step, a panel per corpus, a line per column) are rewritten in OUTPUT from every finished
run there. `run_smoke` runs the whole grid on synthetic corpora with a tiny model (`exhubert table2 --smoke`).
"""

import csv
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from ..data.plan import parse_corpus_entries, parse_corpus_specs
from ..data.roles import UNSEEN, corpus_role, load_corpus_roles
from ..errors import ExHubertError, UsageError, error_summary
from ..fileio import write_text_atomic
from ..loading import model_source

RUN_RECORD = "table2_run.json"
PAPER_FILE = "table2_paper.yaml"
LS960, EMOSET = "ls960", "emoset"
# flags the grid sets itself for every run
RESERVED_FLAGS = ("--config", "--corpora", "--output_dir", "--model_name_or_path", "--resume_from_checkpoint")


@dataclass(frozen=True)
class Column:
    """A column of Table 2: `start` is LS960 (HuBERT Large, the config's facebook/hubert-large-ls960-ft) or EMOSET
    (the stage-1 model fine-tuned on EmoSet++)."""

    key: str
    title: str
    config: str
    start: str


COLUMNS = (
    Column("hubert_ls960", "HuBERT Large LS960", "ablation_hubert_ls960", LS960),
    Column("hubert_emoset", "HuBERT Large EmoSet++", "ablation_no_expansion", EMOSET),
    Column("exhubert_ls960", "ExHuBERT Large LS960", "ablation_expanded_ls960", LS960),
    Column("exhubert_emoset", "ExHuBERT Large EmoSet++", "stage2_exhubert", EMOSET),
    Column("non_frozen", "Non-Frozen", "ablation_unfrozen", EMOSET),
    Column("xlarge", "XLarge", "ablation_xlarge", EMOSET),
)


def load_paper_table2() -> dict:
    """table2_paper.yaml: `{"source", "note", "metric", "uar": {corpus: {column: percent or None}}}`, checked against
    COLUMNS and the six unseen test corpora of corpus_roles.yaml."""
    data = yaml.safe_load(resources.files("exhubert_hf").joinpath("train", PAPER_FILE).read_text(encoding="utf-8"))
    corpora, columns = load_corpus_roles().unseen_test_corpora, {column.key for column in COLUMNS}
    table = data.get("uar") or {}
    if list(table) != list(corpora) or any(set(row) != columns for row in table.values()):
        raise ValueError(f"{PAPER_FILE}: uar needs rows {list(corpora)}, each with the columns {sorted(columns)}")
    return data


def _columns(keys: Sequence[str] | None) -> list[Column]:
    if not keys:
        return list(COLUMNS)
    known = {column.key: column for column in COLUMNS}
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise UsageError(f"unknown Table 2 column(s) {', '.join(unknown)}; the columns are {', '.join(known)}")
    return [column for column in COLUMNS if column.key in keys]


def run_table2(
    targets,
    output_dir,
    stage1_model: str | None = None,
    columns: Sequence[str] | None = None,
    train_args: Sequence[str] = (),
    tiny: bool = False,
    quiet: bool = False,
    say: Callable[[str], None] = print,
) -> dict:
    """Every chosen column (default: all of COLUMNS) on every target (`NAME=ROOT` entries or {name: root}), each its
    own resumable run under `output_dir/runs`, then the table and figure. `train_args` are extra `exhubert train`
    flags for every run; `tiny` stands a tiny random HuBERT in for facebook/hubert-large-ls960-ft (smoke runs).
    Usage errors (bad targets, columns or flags, no stage-1 model for the EmoSet++ columns) are raised before the
    first run; a run that fails is reported and the grid goes on. Returns {"records", "failed": {run: reason},
    "table_md", "table_csv", "figure"}."""
    output_dir = Path(output_dir)
    chosen = _columns(columns)
    entries = parse_corpus_entries(targets)
    specs = parse_corpus_specs(entries)  # every target's root is checked before the first run
    reserved = [flag for flag in train_args if str(flag).split("=")[0] in RESERVED_FLAGS]
    if reserved:
        raise UsageError(f"the Table 2 grid sets {', '.join(reserved)} itself; leave it out of the extra training flags")
    if any(column.start == EMOSET for column in chosen):
        if not stage1_model:
            raise UsageError("the EmoSet++ columns start from the stage-1 model: give it (the output_dir of "
                             "`exhubert train --config stage1_emoset`), or choose only the LS960 columns")  # fmt: skip
        stage1_model = model_source(stage1_model)
    grid = [(column, spec, entry) for column in chosen for spec, entry in zip(specs, entries.items())]
    failed = {}
    for number, (column, spec, (key, root)) in enumerate(grid, 1):
        run_dir = output_dir / "runs" / column.key / spec.name
        label = f"[{number}/{len(grid)}] {column.title} on {spec.name}"
        if (run_dir / RUN_RECORD).is_file():
            say(f"{label}: finished earlier, skipped")
            continue
        argv = ["--config", column.config, "--corpora", f"{key}={root}", "--output_dir", str(run_dir), "--resume_from_checkpoint", "last"]
        if column.start == EMOSET:
            argv += ["--model_name_or_path", stage1_model]
        elif tiny:
            argv += ["--tiny", "true"]
        say(f"{label} ...")
        try:
            record = _run_one(column, spec.name, [*argv, *map(str, train_args)], run_dir, quiet)
        except (ExHubertError, OSError) as error:
            failed[f"{column.key}/{spec.name}"] = error_summary(error)
            say(f"{label}: failed: {error_summary(error)}")
            continue
        uar = record["test_uar"]
        say(f"{label}: test UAR {'–' if uar is None else f'{100 * uar:.1f} %'}")
    return {"failed": failed, **write_table2(output_dir)}


def _run_one(column: Column, corpus: str, argv: list[str], run_dir: Path, quiet: bool) -> dict:
    from .arguments import parse_training_arguments
    from .callbacks import uar_history
    from .run import run_finetuning

    summary = run_finetuning(*parse_training_arguments(argv), quiet=quiet)
    log_history = summary.pop("trainer").state.log_history
    results = ((summary.get("results") or {}).get("per_corpus") or {}).get(corpus, {})
    record = {
        "column": column.key,
        "corpus": corpus,
        "test_uar": results.get("uar"),
        "test_wa": results.get("wa"),
        "test_clips": results.get("num_clips"),
        "validation_uar": uar_history(log_history).get(corpus, []),
        "argv": argv,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text_atomic(run_dir / RUN_RECORD, json.dumps(record, indent=1) + "\n", overwrite=True)
    return record


def finished_runs(output_dir) -> list[dict]:
    """The records of every finished run under `output_dir/runs`, in COLUMNS order, then by corpus."""
    order = {column.key: index for index, column in enumerate(COLUMNS)}
    records = [json.loads(path.read_text(encoding="utf-8")) for path in Path(output_dir).glob(f"runs/*/*/{RUN_RECORD}")]
    return sorted((r for r in records if r.get("column") in order), key=lambda r: (order[r["column"]], r["corpus"]))


def _row(corpus: str) -> tuple[str, str]:
    """(row key, row title) of a target corpus: Table 2's key and spelling for its six corpora, else the name."""
    role = corpus_role(corpus)
    return (role.key, role.paper_name or role.key) if role is not None and role.role == UNSEEN else (corpus, corpus)


def write_table2(output_dir) -> dict:
    """table2.md, table2.csv and figure3.png in `output_dir` from its finished runs and the paper's numbers."""
    from .evaluation import results_table
    from .plots import plot_uar_panels

    output_dir = Path(output_dir)
    paper, records = load_paper_table2(), finished_runs(output_dir)
    rows = {key: load_corpus_roles().corpora[key].paper_name for key in paper["uar"]}
    measured: dict[tuple[str, str], dict] = {}
    for record in records:
        key, title = _row(record["corpus"])
        rows.setdefault(key, title)
        measured[record["column"], key] = record

    def as_results(values: dict) -> dict:  # results_table's input, None where missing
        present = [value for value in values.values() if value is not None]
        return {"per_corpus": {rows[key]: {"uar": value} for key, value in values.items()},
                "mean": {"uar": sum(present) / len(present) if present else None}}  # fmt: skip

    ours = [(c.title, as_results({key: measured.get((c.key, key), {}).get("test_uar") for key in rows})) for c in COLUMNS]
    published = [
        (c.title, as_results({key: _fraction(paper["uar"].get(key, {}).get(c.key)) for key in rows})) for c in COLUMNS
    ]
    markdown = "\n".join([
        "# Table 2: the unseen test corpora", "",
        f"## Measured here: test UAR [%] ({len(records)} finished run(s) in {output_dir})", "", results_table(ours),
        f"## Published: {paper['metric']}, {paper['source']}", "", results_table(published),
        f"Note on the published numbers: {paper['note']}", "",
        "–: no finished run here / no published number. Mean: unweighted over the corpora with a value.", "",
    ])  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["corpus", "corpus_title", "column", "column_title", "measured_test_uar", "paper_test_uar",
                     "measured_test_wa", "test_clips", "best_validation_uar", "run_dir"])  # fmt: skip
    for key, title in rows.items():
        for column in COLUMNS:
            record = measured.get((column.key, key), {})
            history = [value for _, value in record.get("validation_uar", [])]
            run_dir = output_dir / "runs" / column.key / record["corpus"] if record else ""
            writer.writerow([
                key, title, column.key, column.title, _percent(record.get("test_uar")),
                _percent(_fraction(paper["uar"].get(key, {}).get(column.key))), _percent(record.get("test_wa")),
                record.get("test_clips", ""), _percent(max(history) if history else None), run_dir,
            ])  # fmt: skip
    panels = {
        title: {c.title: measured.get((c.key, key), {}).get("validation_uar", []) for c in COLUMNS}
        for key, title in rows.items()
        if any((c.key, key) in measured for c in COLUMNS) or not measured
    }
    outputs = {
        "records": records,
        "table_md": write_text_atomic(output_dir / "table2.md", markdown, overwrite=True),
        "table_csv": write_text_atomic(output_dir / "table2.csv", buffer.getvalue(), overwrite=True),
        "figure": plot_uar_panels(panels, output_dir / "figure3.png", title="Figure 3: validation UAR per target corpus"),
    }
    return outputs


def _fraction(percent) -> float | None:
    return None if percent is None else float(percent) / 100


def _percent(value) -> str:
    return "" if value is None else f"{100 * value:.2f}"


# --- the smoke grid: synthetic corpora, tiny models ----------------------------------------------------------------
SMOKE_STAGE1_CORPORA = ("synth_a", "synth_b")
SMOKE_TARGETS = ("synth_t1", "synth_t2")
# a few dozen steps per run at the demo's learning rate: the grid end to end, not the paper's numbers
SMOKE_FLAGS = (
    "--max_steps", "30", "--eval_steps", "10", "--save_steps", "10", "--logging_steps", "5", "--learning_rate", "2e-3",
    "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "16", "--max_seconds", "1",
    "--use_cpu", "true", "--dataloader_num_workers", "0", "--dataloader_pin_memory", "false", "--report_to", "none",
    "--disable_tqdm", "true", "--config_overrides", '{"layerdrop": 0.0}',
)  # fmt: skip


def run_smoke(output_dir, columns: Sequence[str] | None = None, targets: int = len(SMOKE_TARGETS), say=print) -> dict:
    """The Table 2 grid end to end on synthetic corpora (exhubert_hf.data.synthetic) with tiny random models: a
    short stage 1 on two corpora (bundled config `demo`, 120 steps), then every chosen column on `targets` held-out
    corpora. Resumable like `run_table2`; returns its result with "seconds" added."""
    import datasets
    from transformers.utils import logging as hf_logging

    from ..data.synthetic import MANIFEST_NAME, generate_corpus
    from .arguments import parse_training_arguments
    from .run import run_finetuning

    start = time.time()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    output_dir = Path(output_dir)
    manifests = {}
    for seed, name in enumerate((*SMOKE_STAGE1_CORPORA, *SMOKE_TARGETS[:targets])):
        existing = output_dir / "data" / name / MANIFEST_NAME
        manifests[name] = existing if existing.is_file() else generate_corpus(
            output_dir / "data", name, num_speakers=5, clips_per_class=2, split_speakers=(3, 1, 1), duration=0.6, seed=seed
        )  # fmt: skip
    flags = [*SMOKE_FLAGS, "--cache_dir", str(output_dir / "prepared")]
    stage1 = output_dir / "stage1"
    if not (stage1 / "model.safetensors").is_file():
        say(f"stage 1: a tiny random HuBERT on {', '.join(SMOKE_STAGE1_CORPORA)} (synthetic)")
        corpora = [f"manifest:{name}={manifests[name]}" for name in SMOKE_STAGE1_CORPORA]
        argv = ["--config", "demo", "--corpora", *corpora, "--output_dir", str(stage1), *flags, "--max_steps", "120", "--eval_steps", "40", "--save_steps", "40"]
        run_finetuning(*parse_training_arguments(argv), quiet=True).pop("trainer")
    result = run_table2(
        [f"manifest:{name}={manifests[name]}" for name in SMOKE_TARGETS[:targets]],
        output_dir, stage1_model=str(stage1), columns=columns, train_args=flags, tiny=True, quiet=True, say=say,
    )  # fmt: skip
    return dict(result, seconds=time.time() - start)


__all__ = [
    "COLUMNS",
    "RUN_RECORD",
    "Column",
    "finished_runs",
    "load_paper_table2",
    "run_smoke",
    "run_table2",
    "write_table2",
]
