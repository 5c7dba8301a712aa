"""A training run's settings are checked before anything expensive, every problem at once (exit 2); a finished run
is not replaced without --overwrite_output_dir; config values of the wrong type name the key and the file; and
the training command prints no bars or reports the user cannot act on."""

import json
import time
from pathlib import Path

import pytest
from conftest import run_cli
from safetensors.torch import load_file, save_file
from test_training import finetune_arguments, run_in_process, synthetic  # noqa: F401  (synthetic: a fixture)
from transformers import HubertModel

from exhubert_hf.testing import tiny_hubert_config
from exhubert_hf.train.arguments import ConfigError, parse_training_arguments


def test_every_problem_is_reported_at_once_and_before_anything_expensive(tmp_path, monkeypatch, capsys):
    def expensive(*args, **kwargs):
        raise AssertionError("the run went on to an expensive step")

    monkeypatch.setattr("exhubert_hf.train.run.prepare_corpora", expensive)
    monkeypatch.setattr("exhubert_hf.train.run.build_model", expensive)
    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "model.safetensors").write_bytes(b"the user's model")
    arguments = [
        "train", "--config", "stage2_exhubert",
        "--corpora", f"emodb={tmp_path / 'no-emodb'}", f"urdu={tmp_path / 'no-urdu'}", f"manifest:mine={tmp_path / 'no.csv'}",
        "--train_corpora", "crema_d",
        "--model_name_or_path", str(tmp_path / "runs" / "stage-one"),
        "--output_dir", str(finished), "--max_steps", "0",
    ]  # fmt: skip
    start = time.perf_counter()
    status = run_cli(monkeypatch, *arguments)
    seconds = time.perf_counter() - start
    error = capsys.readouterr().err
    assert status == 2, error
    assert seconds < 5, seconds
    lines = error.strip().splitlines()
    assert lines[0].startswith("exhubert train: error: corpora: emodb: corpus root") and "(5 more problems below" in lines[0]
    expected = [
        "corpora: urdu: corpus root",
        "corpora: manifest:mine: manifest file",
        f"model_name_or_path: {tmp_path / 'runs' / 'stage-one'}: folder not found",
        f"output_dir: {finished} holds a run (model.safetensors); pass --overwrite_output_dir true",
        "max_steps: 0: round-robin training counts steps",
    ]
    assert len(lines) == 6 and all(line.startswith("  ") for line in lines[1:])
    for line, words in zip(lines[1:], expected):
        assert words in line, (words, line)
    assert "crema_d" not in error  # train_corpora is checked once the corpora are usable
    assert (finished / "model.safetensors").read_bytes() == b"the user's model"

    # the other checks: train_corpora, prepared_dataset, output_dir as a file, a mode without frozen originals
    (tmp_path / "a-file").write_text("")
    corpus = tmp_path / "corpus.csv"
    corpus.write_text("path,label\n")
    status = run_cli(
        monkeypatch, "train", "--tiny", "true", "--corpora", f"manifest:mine={corpus}", "--train_corpora", "crema_d",
        "--output_dir", str(tmp_path / "a-file"), "--frozen_layer_memory", "compact",
    )  # fmt: skip
    error = capsys.readouterr().err
    assert status == 2
    for words in ("train_corpora: crema_d not among the corpora (mine)", "a-file is a file", "frozen_layer_memory: compact needs"):
        assert words in error, error
    status = run_cli(monkeypatch, "train", "--tiny", "true", "--prepared_dataset", str(tmp_path), "--output_dir", str(tmp_path / "out"))
    assert status == 2 and "is not a dataset written by `exhubert prepare --output`" in capsys.readouterr().err


def test_a_run_is_replaced_only_with_overwrite_output_dir_and_continued_without(synthetic, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    first = finetune_arguments(synthetic, run, "--max_steps", "4", "--eval_strategy", "no", "--save_steps", "2")
    run_in_process(first)
    model = (run / "model.safetensors").read_bytes()
    again = finetune_arguments(synthetic, run, "--max_steps", "2", "--eval_strategy", "no", "--save_steps", "2", "--seed", "1")
    with pytest.raises(ConfigError, match=r"holds a run \(checkpoint-2, checkpoint-4, model.safetensors, ...\); pass --overwrite"):
        run_in_process(again)
    assert (run / "model.safetensors").read_bytes() == model and (run / "checkpoint-4").is_dir()

    run_in_process([*first, "--resume_from_checkpoint", "last"])  # continuing a run needs no flag
    assert (run / "checkpoint-4").is_dir()

    (run / "notes.txt").write_text("the user's own file")
    run_in_process([*again, "--overwrite_output_dir", "true"])
    assert (run / "model.safetensors").read_bytes() != model
    assert sorted(path.name for path in run.glob("checkpoint-*")) == ["checkpoint-2"]  # the old run's are gone
    assert json.loads((run / "trainer_state.json").read_text())["global_step"] == 2
    assert (run / "notes.txt").read_text() == "the user's own file"  # not a run file: kept


BAD_VALUES = [
    ("learning_rate: abc", "learning_rate: 'abc' is not a number"),
    ("seed: x", "seed: 'x' is not an integer"),
    ("save_steps: null", "save_steps: null is not allowed here"),
    ("config_overrides: '{broken'", "config_overrides: not valid JSON"),
    ("config_overrides: '[1, 2]'", "config_overrides: must be a JSON object"),
    ("max_steps: 1.5", "max_steps: 1.5 is not an integer"),
    ("max_steps: true", "max_steps: True is not an integer"),
    ("bf16: maybe", "bf16: 'maybe' is not true or false"),
    ("eval_strategy: often", "eval_strategy: 'often' is not one of"),
    ("per_device_train_batch_size: [8]", "per_device_train_batch_size: [8] is not an integer"),
]


@pytest.mark.parametrize("line, words", BAD_VALUES, ids=[line.split(":")[0] + "-" + str(index) for index, (line, _) in enumerate(BAD_VALUES)])
def test_a_config_value_of_the_wrong_type_names_the_key_and_the_file(line, words, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(f"tiny: true\n{line}\n")
    with pytest.raises(ConfigError) as raised:
        parse_training_arguments(["--config", str(config)])
    assert str(raised.value) == f"{config}: {words}" or str(raised.value).startswith(f"{config}: {words}"), str(raised.value)


def test_bad_values_are_all_reported_in_one_line_each_with_exit_status_2(tmp_path, monkeypatch, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("learning_rate: abc\nseed: x\nmax_steps: 3000.0\nadam_epsilon: '1e-8'\n")
    assert run_cli(monkeypatch, "train", "--config", config) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"exhubert train: error: {config}: learning_rate: 'abc' is not a number (1 more problem below; nothing was done)",
        f"  {config}: seed: 'x' is not an integer",
    ]
    config.write_text("tiny: true\nmax_steps: 3000.0\nadam_epsilon: '1e-8'\nbf16: 'false'\n")  # usable as they are
    _, _, training_args = parse_training_arguments(["--config", str(config)])
    assert (training_args.max_steps, training_args.adam_epsilon, training_args.bf16) == (3000, 1e-8, False)
    with pytest.raises(ConfigError, match=r"the command line: config_overrides: not valid JSON"):
        parse_training_arguments(["--tiny", "true", "--config_overrides", "{layerdrop: 0}"])


def test_the_training_command_shows_no_bars_or_reports_the_user_cannot_act_on(synthetic, tmp_path, monkeypatch, capsys):  # noqa: F811
    hubert = tmp_path / "hubert"  # a HuBERT without a classification head, as on the Hub
    HubertModel(tiny_hubert_config()).save_pretrained(hubert)
    capsys.readouterr()
    arguments = finetune_arguments(synthetic, tmp_path / "run", "--max_steps", "2", "--eval_steps", "2", "--save_steps", "2")
    arguments[arguments.index("--tiny") : arguments.index("--tiny") + 2] = ["--model_name_or_path", str(hubert)]
    assert run_cli(monkeypatch, "train", *arguments) == 0
    output = "".join(capsys.readouterr())
    for noise in ("Loading weights", "Writing model shards", "LOAD REPORT", "MISSING", "find_unused_parameters"):
        assert noise not in output, noise
    assert "UAR" in output and Path(tmp_path / "run" / "model.safetensors").is_file()

    # the new head is expected; anything else missing from the weights is an error, before training
    weights = load_file(hubert / "model.safetensors")
    del weights["encoder.layers.0.attention.k_proj.weight"]
    save_file(weights, hubert / "model.safetensors", metadata={"format": "pt"})
    assert run_cli(monkeypatch, "train", *arguments, "--output_dir", str(tmp_path / "run2")) == 2
    assert "missing keys: hubert.encoder.layers.0.attention.k_proj.weight" in capsys.readouterr().err
