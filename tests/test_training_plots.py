"""The plots of a run come from a TrainerCallback: a plain transformers Trainer gets the validation-UAR curves at
every evaluation and a confusion matrix at every prediction, RoundRobinTrainer draws once per evaluation and logs
each corpus's UAR to TensorBoard; titles say what the run was; DDP looks for unused parameters only where some can
be unused."""

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_training import CORPORA, finetune_arguments, run_in_process, synthetic  # noqa: F401  (synthetic: a fixture)
from transformers import HubertForSequenceClassification, Trainer, TrainingArguments

import exhubert_hf.train.callbacks as callbacks
from exhubert_hf import ExHubertForSequenceClassification
from exhubert_hf.data.collator import AudioCollator
from exhubert_hf.modeling_exhubert import default_feature_extractor
from exhubert_hf.testing import tiny_hubert_config
from exhubert_hf.train.arguments import parse_training_arguments
from exhubert_hf.train.callbacks import TrainingPlotsCallback, uar_history
from exhubert_hf.train.run import run_title, split_by_corpus
from exhubert_hf.train.trainer import parameters_can_go_unused


@pytest.fixture
def drawn(monkeypatch):
    """The histories that the callback drew, in order."""
    histories = []
    plot = callbacks.plot_uar_curves

    def recording(history, path, title):
        histories.append({name: [step for step, _ in points] for name, points in history.items()})
        return plot(history, path, title=title)

    monkeypatch.setattr(callbacks, "plot_uar_curves", recording)
    return histories


def test_a_plain_trainer_gets_the_curves_at_each_evaluation_and_a_confusion_matrix_per_prediction(synthetic, tmp_path, drawn):  # noqa: F811
    _, _, dataset = synthetic
    torch.manual_seed(0)
    model = HubertForSequenceClassification(tiny_hubert_config(num_labels=6))
    plots = TrainingPlotsCallback(title="a tiny HuBERT on alpha and beta")
    arguments = TrainingArguments(
        tmp_path, max_steps=4, eval_strategy="steps", eval_steps=2, save_strategy="no", per_device_train_batch_size=4,
        learning_rate=1e-3, remove_unused_columns=False, report_to="none", disable_tqdm=True, use_cpu=True,
    )  # fmt: skip
    validation = split_by_corpus(dataset["validation"])
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=dataset["train"],
        eval_dataset={"alpha": validation["alpha"], "beta": validation["beta"]},
        data_collator=AudioCollator(default_feature_extractor(model.config)),
        compute_metrics=plots.compute_metrics,
        callbacks=[plots],
    )
    trainer.train()
    # each evaluation reports alpha, then beta: drawn once both are in, at the next step and at the end
    assert drawn == [{"alpha": [2], "beta": [2]}, {"alpha": [2, 4], "beta": [2, 4]}]
    assert (tmp_path / "validation_uar.png").stat().st_size > 10_000
    trainer.predict(split_by_corpus(dataset["test"])["gamma"], metric_key_prefix="test_gamma")
    assert plots.plots["gamma"] == tmp_path / "confusion_gamma.png" and plots.plots["gamma"].stat().st_size > 10_000
    assert not list(tmp_path.glob(".tmp-*"))  # drawn to a temporary file, then renamed


def test_round_robin_training_draws_once_per_evaluation_and_logs_each_corpus_to_tensorboard(synthetic, tmp_path, drawn):  # noqa: F811
    arguments = finetune_arguments(
        synthetic, tmp_path, "--max_steps", "4", "--eval_steps", "2", "--save_steps", "2", "--report_to", "tensorboard"
    )  # fmt: skip
    summary = run_in_process(arguments)
    assert drawn == [dict.fromkeys(CORPORA, [2]), dict.fromkeys(CORPORA, [2, 4])]
    assert {str(tmp_path / f"confusion_{corpus}.png") for corpus in CORPORA} | {str(tmp_path / "validation_uar.png")} == set(summary["plots"])
    (events,) = {path.parent for path in (tmp_path / "runs").rglob("events.out.tfevents.*")}
    scalars = EventAccumulator(str(events)).Reload().Scalars
    for corpus in CORPORA:
        assert [event.step for event in scalars(f"eval/{corpus}_uar")] == [2, 4]
    assert [event.step for event in scalars("eval/uar")] == [2, 4]  # their mean


def test_the_curves_of_a_resumed_run_start_at_its_first_evaluation():
    log_history = [
        {"eval_alpha_uar": 0.2, "step": 2},
        {"eval_beta_uar": 0.3, "step": 2},
        {"eval_uar": 0.25, "eval_alpha_uar": 0.2, "eval_beta_uar": 0.3, "step": 2},  # RoundRobinTrainer's mean entry
        {"loss": 1.7, "step": 3},
        {"eval_alpha_uar": 0.5, "eval_beta_uar": 0.4, "step": 4},
    ]
    assert uar_history(log_history) == {"alpha": [(2, 0.2), (4, 0.5)], "beta": [(2, 0.3), (4, 0.4)]}
    assert uar_history([{"eval_uar": 0.4, "step": 10}, {"test_uar": 0.1, "step": 10}]) == {"validation": [(10, 0.4)]}


def test_titles_say_what_the_run_was():
    model_args = parse_training_arguments(["--config", "demo_stage2", "--model_name_or_path", "runs/demo/stage1"])[0]
    title = run_title(model_args, ["synth_target"])
    assert title == "stage 2: block expansion (1 copy per layer, originals frozen) of runs/demo/stage1, on synth_target"
    model_args = parse_training_arguments(["--config", "demo", "--tiny", "true"])[0]
    assert run_title(model_args, ["a", "b"]) == "stage 1: fine-tuning of a tiny random HuBERT, on a, b"


def test_ddp_looks_for_unused_parameters_only_where_some_can_be_unused():
    def stage2(layerdrop=0.0, **overrides):
        torch.manual_seed(0)
        source = HubertForSequenceClassification(tiny_hubert_config(**overrides))
        return ExHubertForSequenceClassification.from_hubert(source, layerdrop=layerdrop)

    assert not parameters_can_go_unused(stage2())  # frozen originals are not "unused": they get no gradient at all
    assert not parameters_can_go_unused(stage2(mask_time_prob=0.0))  # no SpecAugment embedding is built
    assert parameters_can_go_unused(stage2(layerdrop=0.1))  # expansion sets 0; an explicit layer drop skips blocks
    model = stage2()
    model.config.mask_time_prob = 0.0  # the embedding exists but no time mask uses it
    assert parameters_can_go_unused(model)
    model.hubert.masked_spec_embed.requires_grad_(False)
    assert not parameters_can_go_unused(model)
    hubert = HubertForSequenceClassification(tiny_hubert_config(layerdrop=0.1))  # stage 1 of a HuBERT checkpoint
    assert parameters_can_go_unused(hubert)
    hubert.hubert.requires_grad_(False)
    assert not parameters_can_go_unused(hubert)  # dropped layers are frozen: DDP does not see them
