"""Training: round-robin batches under distributed training, exact resume, crash-safe checkpoints, the configs,
the offline demo and a tiny stage 1 on the real EMO-DB + URDU. Tiny random HuBERTs and small synthetic corpora
only; nothing is downloaded."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForAudioClassification, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from exhubert_hf.data.prepare import prepare_corpora
from exhubert_hf.data.sampler import RoundRobinBatchSampler
from exhubert_hf.data.synthetic import generate_corpus
from exhubert_hf.train.arguments import STAGES, bundled_configs, config_path, parse_training_arguments
from exhubert_hf.train.checkpoints import (
    CHECKPOINT_COMPLETE,
    IncompleteCheckpointError,
    checkpoint_problem,
    last_complete_checkpoint,
    resolve_resume_checkpoint,
)
from exhubert_hf.train.run import run_finetuning
from exhubert_hf.train.trainer import RoundRobinTrainer

ROOT = Path(__file__).resolve().parents[1]
FINETUNE = ROOT / "training" / "finetune.py"
CONFIGS = bundled_configs()
SHARED_DATA = ROOT.parent / "shared" / "data"
CORPORA = ("alpha", "beta", "gamma")
# No dropout, layer drop or SpecAugment: one process with the global batch and two with half each must agree.
NO_RANDOMNESS = json.dumps(
    {
        "layerdrop": 0.0,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "final_dropout": 0.0,
        "mask_time_prob": 0.0,
    }
)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Three small synthetic corpora, prepared once: (corpus arguments, cache dir, prepared dataset)."""
    root = tmp_path_factory.mktemp("synthetic")
    corpora = []
    for index, name in enumerate(CORPORA):
        manifest = generate_corpus(
            root, name, num_speakers=5, clips_per_class=2, split_speakers=(3, 1, 1), duration=0.8, seed=index
        )
        corpora.append(f"manifest:{name}={manifest}")
    cache = root / "cache"
    prepared = prepare_corpora(
        {entry.split("=")[0]: entry.split("=")[1] for entry in corpora}, cache_dir=cache, show_progress=False
    )
    return corpora, cache, prepared.dataset


def finetune_arguments(synthetic, output_dir, *extra) -> list[str]:
    corpora, cache, _ = synthetic
    return [
        "--tiny", "true",
        "--freeze_feature_encoder", "false",
        "--corpora", *corpora,
        "--cache_dir", str(cache),
        "--output_dir", str(output_dir),
        "--learning_rate", "1e-3",
        "--seed", "0",
        "--per_device_train_batch_size", "4",
        "--per_device_eval_batch_size", "8",
        "--load_best_model_at_end", "false",
        "--logging_steps", "2",
        "--disable_tqdm", "true",
        "--dataloader_pin_memory", "false",
        "--use_cpu", "true",
        *extra,
    ]  # fmt: skip


def run_in_process(arguments, callbacks=None) -> dict:
    model_args, data_args, training_args = parse_training_arguments(arguments)
    summary = run_finetuning(model_args, data_args, training_args, callbacks=callbacks, quiet=True)
    summary.pop("trainer", None)
    return summary


def weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(Path(folder) / "model.safetensors"))


def max_difference(first: dict, second: dict) -> float:
    assert first.keys() == second.keys()
    return max((first[key].float() - second[key].float()).abs().max().item() for key in first)


def free_port() -> int:
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


def run_command(command, env=None, timeout=300) -> subprocess.CompletedProcess:
    environment = dict(os.environ, **(env or {}))
    environment.pop("WORLD_SIZE", None)
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


# ---------------------------------------------------------------------------------------------------------------------
# (1) distributed training


def test_two_processes_train_on_disjoint_single_corpus_batches_and_end_identical(synthetic, tmp_path):
    debug = tmp_path / "debug"
    arguments = finetune_arguments(
        synthetic, tmp_path / "ddp", "--max_steps", "6", "--eval_steps", "3", "--save_steps", "3",
        "--config_overrides", NO_RANDOMNESS,
    )  # fmt: skip
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
    ]  # fmt: skip
    result = run_command(
        [*launch, str(FINETUNE), *arguments], env={"EXHUBERT_TRAIN_DEBUG_DIR": str(debug), "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    # no warning on every process about looking for unused parameters (none can be unused here), no save bars
    assert "find_unused_parameters" not in result.stderr and "Writing model shards" not in result.stderr, result.stderr[-3000:]

    logs = {rank: [json.loads(line) for line in open(debug / f"batches-rank{rank}.jsonl")] for rank in (0, 1)}
    assert len(logs[0]) == len(logs[1]) == 6  # every process loaded exactly one batch per step
    _, _, dataset = synthetic
    sampler = RoundRobinBatchSampler.from_corpus_column(dataset["train"]["corpus"], 4, seed=0, num_replicas=2, num_steps=6)
    for step, (first, second) in enumerate(zip(logs[0], logs[1])):
        assert first["corpora"] == second["corpora"] == [sampler.step_corpus(step)]  # one corpus, both processes
        assert not set(first["indices"]) & set(second["indices"])  # disjoint
        assert first["indices"] + second["indices"] == sampler.global_batch(step)  # contiguous halves of the step
    assert [entry["corpora"][0] for entry in logs[0]] == [*CORPORA, *CORPORA]  # round robin

    hashes = {(debug / f"weights-rank{rank}.txt").read_text() for rank in (0, 1)}
    assert len(hashes) == 1, "the two processes ended with different weights"

    # one process with the whole global batch (8) computes the same training
    single = finetune_arguments(
        synthetic, tmp_path / "single", "--max_steps", "6", "--eval_steps", "3", "--save_steps", "3",
        "--config_overrides", NO_RANDOMNESS, "--per_device_train_batch_size", "8",
    )  # fmt: skip
    run_in_process(single)
    assert max_difference(weights(tmp_path / "ddp"), weights(tmp_path / "single")) <= 1e-5
    # ... and logs the same loss (the mean over the global batch, not scaled by the number of processes)
    losses = {
        name: [entry["loss"] for entry in json.loads((tmp_path / name / "trainer_state.json").read_text())["log_history"] if "loss" in entry]
        for name in ("ddp", "single")
    }
    assert len(losses["ddp"]) == 3 and losses["ddp"] == pytest.approx(losses["single"], abs=1e-4)
    results = json.loads((tmp_path / "ddp" / "results.json").read_text())
    assert sorted(results["per_corpus"]) == list(CORPORA)


# ---------------------------------------------------------------------------------------------------------------------
# (2), (3) exact resume and crash safety

RESUME = ("--max_steps", "8", "--eval_steps", "4", "--save_steps", "4", "--gradient_accumulation_steps", "2")


@pytest.fixture(scope="module")
def uninterrupted(synthetic, tmp_path_factory):
    """Final weights of an uninterrupted run (dropout, layer drop and SpecAugment on: the random state must be
    reproduced on resume too)."""
    output_dir = tmp_path_factory.mktemp("uninterrupted")
    run_in_process(finetune_arguments(synthetic, output_dir, *RESUME, "--config_overrides", '{"layerdrop": 0.1}'))
    return weights(output_dir)


class StopAfterSave(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


def test_stopped_and_resumed_run_ends_with_the_weights_of_an_uninterrupted_run(synthetic, uninterrupted, tmp_path):
    arguments = finetune_arguments(synthetic, tmp_path, *RESUME, "--config_overrides", '{"layerdrop": 0.1}')
    run_in_process(arguments, callbacks=[StopAfterSave(4)])
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    assert max_difference(weights(tmp_path), uninterrupted) > 1e-4  # it really stopped early
    run_in_process([*arguments, "--resume_from_checkpoint", "last"])
    assert max_difference(weights(tmp_path), uninterrupted) <= 1e-6
    state = json.loads((tmp_path / "checkpoint-8" / "trainer_state.json").read_text())
    assert state["global_step"] == 8


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from transformers import TrainerCallback
    from exhubert_hf.train.arguments import parse_training_arguments
    from exhubert_hf.train.run import run_finetuning

    class KillAfterSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == int(os.environ["KILL_AT_STEP"]):
                os.kill(os.getpid(), signal.SIGKILL)

    model_args, data_args, training_args = parse_training_arguments(sys.argv[1:])
    run_finetuning(model_args, data_args, training_args, callbacks=[KillAfterSave()], quiet=True)
    """
)


def test_run_killed_after_a_checkpoint_resumes_exactly_and_ignores_half_written_checkpoints(
    synthetic, uninterrupted, tmp_path
):
    output_dir = tmp_path / "run"
    arguments = finetune_arguments(synthetic, output_dir, *RESUME, "--config_overrides", '{"layerdrop": 0.1}')
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    killed = run_command([sys.executable, str(script), *arguments], env={"KILL_AT_STEP": "4"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert checkpoint_problem(output_dir / "checkpoint-4") is None
    assert not (output_dir / "checkpoint-8").exists()

    # what a crash in the middle of writing leaves behind, and a newer-numbered broken checkpoint
    half = output_dir / "checkpoint-999"
    shutil.copytree(output_dir / "checkpoint-4", half)
    with open(half / "model.safetensors", "r+b") as handle:
        handle.truncate(100)
    (output_dir / "checkpoint-998").mkdir()
    (output_dir / "checkpoint-998" / "trainer_state.json").write_text('{"global_step": 998}')
    staging = output_dir / ".tmp-checkpoint-8"
    staging.mkdir()
    (staging / "model.safetensors").write_bytes(b"partial")
    assert get_last_checkpoint(str(output_dir)).endswith("checkpoint-999")  # what a plain Trainer would resume
    assert last_complete_checkpoint(output_dir) == output_dir / "checkpoint-4"
    assert "model.safetensors has 100 bytes" in checkpoint_problem(half)
    with pytest.raises(IncompleteCheckpointError):
        resolve_resume_checkpoint(str(half), output_dir)
    with pytest.raises(IncompleteCheckpointError):
        resolve_resume_checkpoint(str(output_dir / "checkpoint-998"), output_dir)

    resumed = run_command([sys.executable, str(FINETUNE), *arguments, "--resume_from_checkpoint", "last"])
    assert resumed.returncode == 0, resumed.stderr[-5000:]
    assert max_difference(weights(output_dir), uninterrupted) <= 1e-6
    assert not staging.exists()
    assert checkpoint_problem(output_dir / "checkpoint-8") is None
    assert (half / "model.safetensors").stat().st_size == 100  # not ours: left alone, never used


def test_a_save_interrupted_half_way_never_becomes_a_checkpoint(synthetic, tmp_path, monkeypatch):
    arguments = finetune_arguments(synthetic, tmp_path, "--max_steps", "4", "--eval_strategy", "no", "--save_steps", "2")
    original = RoundRobinTrainer._save_rng_state

    def crash_at_step_4(self, output_dir):
        if self.state.global_step == 4:
            raise KeyboardInterrupt("simulated crash while writing checkpoint-4")
        return original(self, output_dir)

    monkeypatch.setattr(RoundRobinTrainer, "_save_rng_state", crash_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        run_in_process(arguments)
    assert (tmp_path / ".tmp-checkpoint-4" / "model.safetensors").is_file()  # half written ...
    assert not (tmp_path / "checkpoint-4").exists()  # ... and never published
    assert resolve_resume_checkpoint("last", tmp_path) == str(tmp_path / "checkpoint-2")
    monkeypatch.setattr(RoundRobinTrainer, "_save_rng_state", original)
    run_in_process([*arguments, "--resume_from_checkpoint", "last"])
    assert not (tmp_path / ".tmp-checkpoint-4").exists()
    assert checkpoint_problem(tmp_path / "checkpoint-4") is None
    listing = json.loads((tmp_path / "checkpoint-4" / CHECKPOINT_COMPLETE).read_text())
    assert {"model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json", "preprocessor_config.json"} <= set(
        listing["files"]
    )
    model = AutoModelForAudioClassification.from_pretrained(tmp_path / "checkpoint-4", trust_remote_code=True)
    assert model.config.num_labels == 6


def test_resume_argument_forms(tmp_path):
    assert resolve_resume_checkpoint(None, tmp_path) is None
    assert resolve_resume_checkpoint("last", tmp_path) is None  # nothing yet: start fresh
    with pytest.raises(ValueError, match="no complete checkpoint"):
        resolve_resume_checkpoint(True, tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        resolve_resume_checkpoint(str(tmp_path / "nowhere"), tmp_path)


# ---------------------------------------------------------------------------------------------------------------------
# (4) configs


@pytest.mark.parametrize("config", CONFIGS)
def test_every_bundled_config_parses_by_name(config):
    model_args, data_args, training_args = parse_training_arguments(["--config", config])
    assert model_args.stage in STAGES
    assert training_args.max_steps > 0
    assert training_args.optim == "adamw_torch"
    assert (training_args.adam_beta1, training_args.adam_beta2, training_args.adam_epsilon) == (0.9, 0.999, 1e-8)
    assert data_args.corpora or data_args.prepared_dataset
    assert all("=" in entry for entry in data_args.corpora)
    if not config.startswith("demo"):
        assert training_args.learning_rate == 1e-5
        assert model_args.freeze_feature_encoder


def test_paper_configs_set_the_paper_experiments():
    def parsed(name):
        return parse_training_arguments(["--config", str(config_path(name))])

    assert parsed("stage1_emoset")[2].max_steps == 3000
    # the paper's HuBERT Large (footnote 5; the published config's _name_or_path), also the LS960 columns' start
    assert parsed("stage1_emoset")[0].model_name_or_path == "facebook/hubert-large-ls960-ft"
    assert parse_training_arguments([])[0].model_name_or_path == "facebook/hubert-large-ls960-ft"
    assert parsed("ablation_hubert_ls960")[0].model_name_or_path == "facebook/hubert-large-ls960-ft"
    model, _, training = parsed("stage2_exhubert")
    assert (model.stage, model.num_copies_per_layer, model.freeze_original_layers, training.max_steps) == ("stage2", 1, True, 10000)
    assert parsed("ablation_xlarge")[0].num_copies_per_layer == 2
    assert parsed("ablation_unfrozen")[0].freeze_original_layers is False
    assert parsed("ablation_expanded_ls960")[0].model_name_or_path == "facebook/hubert-large-ls960-ft"
    assert parsed("ablation_no_expansion")[0].stage == "stage1"


def test_stage_1_lists_only_emoset_corpora_and_the_stage_2_configs_one_unseen_target():
    from exhubert_hf.data.plan import parse_corpus_entries
    from exhubert_hf.data.roles import EMOSET, corpus_role, unseen_corpora

    stage1 = list(parse_corpus_entries(parse_training_arguments(["--config", "stage1_emoset"])[1].corpora))
    assert stage1 and all(corpus_role(name).role == EMOSET for name in stage1), stage1
    for config in ("stage2_exhubert", "ablation_expanded_ls960", "ablation_unfrozen", "ablation_xlarge",
                   "ablation_no_expansion", "ablation_hubert_ls960"):  # fmt: skip
        corpora = parse_training_arguments(["--config", config])[1].corpora
        assert len(corpora) == 1 and unseen_corpora(parse_corpus_entries(corpora)), (config, corpora)


@pytest.mark.parametrize(
    "corpora, words",
    [(["emodb={tmp}", "jl_corpus={tmp}"], "jl_corpus"), (["manifest:AESI={tmp}/m.csv", "vivae={tmp}"], "manifest:AESI, vivae")],
)
def test_a_stage_1_run_on_an_unseen_test_corpus_exits_2_before_anything_is_loaded(corpora, words, tmp_path, monkeypatch, capsys):
    from conftest import run_cli

    import exhubert_hf.train.run as run_module

    def no_loading(*args, **kwargs):
        raise AssertionError("a model or data was loaded before the check")

    monkeypatch.setattr(run_module, "build_model", no_loading)
    monkeypatch.setattr(run_module, "load_training_data", no_loading)
    filled = [entry.format(tmp=tmp_path) for entry in corpora]
    (tmp_path / "m.csv").write_text("path,label\n")  # exists: the corpus roles are the only problem
    output_dir = tmp_path / "run"
    status = run_cli(monkeypatch, "train", "--config", "stage1_emoset", "--corpora", *filled, "--output_dir", output_dir)
    error = capsys.readouterr().err
    assert status == 2 and f"stage 1 would train on {words}: Table 2's unseen test corpora" in error, error
    assert "--allow_unseen_corpora true" in error and not output_dir.exists()
    # allowed explicitly, or not stage 1, it goes on to load (here: the stand-in raises)
    for extra in (["--allow_unseen_corpora", "true"], ["--stage", "stage2"]):
        arguments = parse_training_arguments(["--config", "stage1_emoset", "--corpora", *filled, *extra])
        with pytest.raises(AssertionError, match="loaded before"):
            run_finetuning(*arguments)


def test_the_unseen_corpus_check_reads_a_prepared_dataset_and_train_corpora(synthetic, tmp_path):
    from exhubert_hf.train.checks import corpus_role_problems

    _, _, dataset = synthetic
    dataset.save_to_disk(str(tmp_path / "prepared"))
    model_args, data_args, _ = parse_training_arguments(["--tiny", "true", "--prepared_dataset", str(tmp_path / "prepared")])
    assert corpus_role_problems(model_args, data_args) == []  # alpha, beta, gamma: no test corpus
    renamed = dataset.map(lambda row: {"corpus": "mlend" if row["corpus"] == "beta" else row["corpus"]}, remove_columns=[])
    renamed.save_to_disk(str(tmp_path / "leaky"))
    data_args.prepared_dataset = str(tmp_path / "leaky")
    (problem,) = corpus_role_problems(model_args, data_args)
    assert problem.startswith("stage 1 would train on mlend")
    data_args.train_corpora = ["alpha", "gamma"]
    assert corpus_role_problems(model_args, data_args) == []


def test_command_line_overrides_the_config_and_bad_keys_are_errors(tmp_path):
    model_args, data_args, training_args = parse_training_arguments(
        ["--config", "stage1_emoset", "--max_steps", "7", "--learning_rate", "2e-3", "--num_copies", "2", "--bf16", "false"]
    )  # --num_copies: the short alias of --num_copies_per_layer
    assert (training_args.max_steps, training_args.learning_rate, model_args.num_copies_per_layer) == (7, 2e-3, 2)
    assert "emodb=/data/emoset/emodb" in data_args.corpora and not data_args.allow_unseen_corpora
    # the lone-file form and JSON configs
    as_json = tmp_path / "config.json"
    as_json.write_text(json.dumps({"tiny": True, "corpora": {"emodb": "/x"}, "learning_rate": "1e-4", "max_steps": 5}))
    model_args, data_args, training_args = parse_training_arguments([str(as_json)])
    assert model_args.tiny and training_args.learning_rate == 1e-4 and data_args.corpora == ["emodb=/x"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rat: 1.0e-5\n")
    with pytest.raises(ValueError, match="learning_rat"):
        parse_training_arguments(["--config", str(bad)])
    wrong_stage = tmp_path / "stage.yaml"
    wrong_stage.write_text("stage: stage3\n")
    with pytest.raises(ValueError, match="stage3"):
        parse_training_arguments(["--config", str(wrong_stage)])


def test_round_robin_training_needs_max_steps(synthetic, tmp_path):
    arguments = finetune_arguments(synthetic, tmp_path, "--max_steps", "-1", "--num_train_epochs", "1")
    with pytest.raises(ValueError, match="max_steps"):
        run_in_process(arguments)


# ---------------------------------------------------------------------------------------------------------------------
# (5) the offline demo


def test_demo_trains_both_stages_and_the_saved_exhubert_predicts(tmp_path):
    from exhubert_hf.train.demo import run_demo

    summary = run_demo(output_dir=tmp_path, stage1_steps=180, stage2_steps=60, eval_steps=30, verbose=False)
    stage2 = summary["stage2"]
    print(f"demo (reduced) in {summary['seconds']:.0f} s: stage-1 test UAR {summary['stage1']['results']['mean']['uar']:.3f}, "
          f"stage-2 (held-out corpus) test UAR {stage2['results']['mean']['uar']:.3f}")
    assert stage2["results"]["mean"]["uar"] >= 0.8, stage2["results"]
    assert summary["stage1"]["results"]["mean"]["uar"] > 0.4  # well above chance (1/6) after stage 1
    for path in summary["stage1"]["plots"] + stage2["plots"]:
        assert Path(path).stat().st_size > 1000
    config = json.loads((tmp_path / "stage2" / "config.json").read_text())
    assert config["model_type"] == "exhubert" and config["num_hidden_layers"] == 4  # 2 layers, 1 copy each
    assert "AutoModelForAudioClassification" in config["auto_map"]
    assert (tmp_path / "stage2" / "modeling_exhubert.py").is_file()
    assert (tmp_path / "stage2" / "preprocessor_config.json").is_file()
    assert len(summary["predictions"]) == 3
    assert sum(truth == label for _, truth, label, _ in summary["predictions"]) >= 2


# ---------------------------------------------------------------------------------------------------------------------
# (6) the real EMO-DB and URDU


@pytest.mark.skipif(not (SHARED_DATA / "emodb").is_dir(), reason=f"no EMO-DB / URDU under {SHARED_DATA}")
def test_tiny_stage1_on_real_emodb_and_urdu(tmp_path):
    output_dir = tmp_path / "run"
    arguments = [
        "--tiny", "true", "--freeze_feature_encoder", "false",
        "--corpora", f"emodb={SHARED_DATA / 'emodb'}", f"urdu={SHARED_DATA / 'urdu'}",
        "--cache_dir", str(tmp_path / "cache"), "--max_seconds", "2",
        "--output_dir", str(output_dir), "--max_steps", "20", "--eval_steps", "10", "--save_steps", "10",
        "--learning_rate", "1e-3", "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16",
        "--disable_tqdm", "true", "--dataloader_pin_memory", "false", "--use_cpu", "true", "--seed", "0",
    ]  # fmt: skip
    summary = run_in_process(arguments)
    results = json.loads((output_dir / "results.json").read_text())
    assert sorted(results["per_corpus"]) == ["emodb", "urdu"]
    for corpus in ("emodb", "urdu"):
        assert 0.0 <= results["per_corpus"][corpus]["uar"] <= 1.0
        assert (output_dir / f"confusion_{corpus}.png").is_file()
    assert (output_dir / "validation_uar.png").is_file()
    assert {"results.md", "results.csv", "preprocessor_config.json"} <= {path.name for path in output_dir.iterdir()}
    model = AutoModelForAudioClassification.from_pretrained(output_dir, trust_remote_code=True).eval()
    assert model.config.id2label[0] == "low arousal, negative valence"
    print("tiny stage 1 on EMO-DB + URDU, test UAR:", {c: round(v["uar"], 3) for c, v in results["per_corpus"].items()})
    assert summary["results"] == results


@pytest.mark.parametrize(
    "config, expected",
    [("stage2_exhubert", 336_682_886), ("ablation_xlarge", 664_182_662), ("ablation_unfrozen", 664_182_662)],
)
def test_the_bundled_expansion_configs_train_the_papers_parameter_counts(config, expected):
    """Table 2's trainable parameters on the HuBERT Large shape, built (on the meta device) from the configs."""
    from exhubert_hf import ExHubertConfig, ExHubertForSequenceClassification
    from exhubert_hf.testing import hubert_large_config
    from exhubert_hf.train.run import expansion_settings

    model_args = parse_training_arguments(["--config", config])[0]
    expanded = ExHubertConfig.from_hubert_config(hubert_large_config(), **expansion_settings(model_args))
    with torch.device("meta"):
        model = ExHubertForSequenceClassification(expanded)
    assert sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad) == expected
