"""The offline demo: ExHuBERT's two training stages end to end in a few minutes on a CPU, with nothing
downloaded.

    python training/demo.py [--output-dir runs/demo]          # synthetic corpora (see exhubert_hf.synthetic)
    python training/demo.py --data-root ../shared/data        # stage 1 on the real EMO-DB + URDU instead

Synthetic run:
1. writes four small corpora of synthetic emotional "speech" (WAV files + CSV manifests) to
   `<output-dir>/data`: three for stage 1 and a held-out target corpus for stage 2;
2. prepares them through `exhubert_hf.prepare` (the manifest adapter), as real corpora would be;
3. stage 1: fine-tunes a tiny random HuBERT round-robin over the three corpora;
4. stage 2: block-expands the stage-1 model (`ExHubertForSequenceClassification.from_hubert`, originals and
   feature encoder frozen) and fine-tunes it on the held-out corpus;
5. evaluates on the test splits (results.json/md/csv, validation-UAR and confusion-matrix PNGs);
6. reloads the saved model with `AutoModelForAudioClassification.from_pretrained(..., trust_remote_code=True)`
   and predicts a few files.

The tiny model learns with a learning rate of 2e-3 and a trainable feature encoder in stage 1 (a random CNN
is no HuBERT); the paper's settings (lr 1e-5, frozen feature encoder) are in training/configs.
With `--data-root`, steps 1-2 read `<data-root>/emodb` and `<data-root>/urdu` and the run stops after
stage 1 (a tiny random model reaches no useful UAR on real speech in a few steps: it shows the pipeline).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

STAGE1_CORPORA = ("synth_a", "synth_b", "synth_c")
TARGET_CORPUS = "synth_target"
# The tiny model: layer drop off (with 2 layers it would drop half the encoder).
TINY_OVERRIDES = {"layerdrop": 0.0}


def demo_training_arguments(output_dir, max_steps: int, eval_steps: int, learning_rate: float, seed: int, **overrides):
    from transformers import TrainingArguments

    settings = dict(
        output_dir=str(output_dir),
        max_steps=max_steps,
        learning_rate=learning_rate,
        optim="adamw_torch",
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        weight_decay=0.0,
        lr_scheduler_type="constant",
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="uar",
        greater_is_better=True,
        logging_steps=max(1, eval_steps // 2),
        report_to="none",
        seed=seed,
        disable_tqdm=True,
        dataloader_pin_memory=False,
        use_cpu=True,
    )
    settings.update(overrides)
    return TrainingArguments(**settings)


def generate_demo_data(data_dir, seed: int = 0, scale: float = 1.0, clip_seconds: float = 0.8) -> dict[str, Path]:
    """The synthetic corpora: {name: manifest}. `scale` < 1 makes them smaller, `clip_seconds` the clips shorter."""
    from .synthetic import generate_corpus

    clips = max(1, round(3 * scale))
    manifests = {
        name: generate_corpus(data_dir, name, num_speakers=8, clips_per_class=clips, split_speakers=(5, 1, 2), duration=clip_seconds, seed=seed)
        for name in STAGE1_CORPORA
    }
    manifests[TARGET_CORPUS] = generate_corpus(
        data_dir,
        TARGET_CORPUS,
        num_speakers=10,
        clips_per_class=max(1, round(4 * scale)),
        split_speakers=(6, 1, 3),
        duration=clip_seconds,
        seed=seed + 1,
    )
    return manifests


def _progress_callback(say):
    from transformers import TrainerCallback

    class EvaluationPrinter(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if metrics and "eval_uar" in metrics:
                say(f"      step {state.global_step:>4}: mean validation UAR {100 * metrics['eval_uar']:5.1f} %")

    return EvaluationPrinter()


def run_demo(
    output_dir="runs/demo",
    data_root=None,
    seed: int = 0,
    stage1_steps: int | None = None,
    stage2_steps: int = 120,
    eval_steps: int | None = None,
    learning_rate: float = 2e-3,
    scale: float = 1.0,
    clip_seconds: float = 0.8,
    verbose: bool = True,
) -> dict:
    """Runs the demo (see the module docstring); returns {"stage1": summary, "stage2": summary or None,
    "predictions": [(file, true label, predicted label, probability)], "seconds": wall time}. Stage 1 takes
    `stage1_steps` steps (default 240 on the synthetic corpora, 40 on real data), evaluating every
    `eval_steps` (default 40 / 20); stage 2 `stage2_steps`, evaluating every `eval_steps / 2`."""
    import logging

    from transformers.utils import logging as hf_logging

    from .trainer import DataArguments, ModelArguments, format_results, run_finetuning

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()
    logging.getLogger("exhubert_hf").setLevel(logging.ERROR)
    start = time.time()
    output_dir = Path(output_dir)
    say = print if verbose else (lambda *args, **kwargs: None)
    if stage1_steps is None:
        stage1_steps = 240 if data_root is None else 40
    if eval_steps is None:
        eval_steps = 40 if data_root is None else 20
    if data_root is None:
        say(f"[1/6] generating synthetic corpora in {output_dir / 'data'}")
        manifests = generate_demo_data(output_dir / "data", seed=seed, scale=scale, clip_seconds=clip_seconds)
        stage1_corpora = [f"manifest:{name}={manifests[name]}" for name in STAGE1_CORPORA]
        stage1_freeze_cnn = False
    else:
        data_root = Path(data_root)
        stage1_corpora = [f"emodb={data_root / 'emodb'}", f"urdu={data_root / 'urdu'}"]
        stage1_freeze_cnn = False
        say(f"[1/6] real corpora: {', '.join(stage1_corpora)}")
    cache_dir = output_dir / "prepared"

    say("[2/6] + [3/6] stage 1: tiny HuBERT, round-robin over " + ", ".join(c.split("=")[0].removeprefix("manifest:") for c in stage1_corpora))
    stage1 = run_finetuning(
        ModelArguments(
            stage="stage1", tiny=True, freeze_feature_encoder=stage1_freeze_cnn, config_overrides=json.dumps(TINY_OVERRIDES)
        ),
        DataArguments(corpora=stage1_corpora, cache_dir=str(cache_dir), max_seconds=2.0),
        demo_training_arguments(output_dir / "stage1", stage1_steps, eval_steps, learning_rate, seed),
        callbacks=[_progress_callback(say)],
        quiet=True,
    )
    stage1.pop("trainer", None)
    say(format_results(stage1))

    stage2 = None
    final_dir = Path(stage1["model_dir"])
    test_files = []
    if data_root is None:
        say(f"[4/6] stage 2: block expansion of the stage-1 model, fine-tuned on the held-out corpus {TARGET_CORPUS}")
        stage2 = run_finetuning(
            ModelArguments(
                model_name_or_path=stage1["model_dir"],
                stage="stage2",
                num_copies=1,
                freeze_original_layers=True,
                freeze_feature_encoder=True,
            ),
            DataArguments(corpora=[f"manifest:{TARGET_CORPUS}={manifests[TARGET_CORPUS]}"], cache_dir=str(cache_dir), max_seconds=2.0),
            demo_training_arguments(output_dir / "stage2", stage2_steps, max(1, eval_steps // 2), learning_rate, seed),
            callbacks=[_progress_callback(say)],
            quiet=True,
        )
        stage2.pop("trainer", None)  # release the model and optimizer before reloading from disk
        say(format_results(stage2))
        final_dir = Path(stage2["model_dir"])
        test_files = _test_files(manifests[TARGET_CORPUS], count=3)
    else:
        test_files = sorted((Path(data_root) / "emodb" / "wav").glob("*.wav"))[:3]

    say(f"[5/6] reloading {final_dir} with AutoModelForAudioClassification (trust_remote_code=True)")
    predictions = predict_files(final_dir, test_files)
    say("[6/6] predictions:")
    for path, truth, label, score in predictions:
        say(f"  {Path(path).name}: {label} ({100 * score:.0f} %)" + (f"   true: {truth}" if truth else ""))
    seconds = time.time() - start
    final = stage2 if stage2 is not None else stage1
    if final.get("results"):
        say(f"test UAR ({'held-out corpus, stage 2' if stage2 else 'stage 1, mean over corpora'}): "
            f"{100 * final['results']['mean']['uar']:.1f} %")
    say("plots: " + ", ".join(stage1["plots"] + (stage2["plots"] if stage2 else [])))
    say(f"done in {seconds:.0f} s")
    return {"stage1": stage1, "stage2": stage2, "predictions": predictions, "seconds": seconds}


def _test_files(manifest: Path, count: int) -> list[tuple[Path, str]]:
    """A few test clips of different classes (one each of every other class)."""
    import csv

    with open(manifest, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "test"]
    first_of_label = {}
    for row in rows:
        first_of_label.setdefault(row["label"], row)
    picked = list(first_of_label.values())[::2][:count]
    return [(manifest.parent / row["path"], row["label"]) for row in picked]


def predict_files(model_dir, files) -> list[tuple[str, str, str, float]]:
    """(file, true label or "", predicted label, probability) per file, with the saved folder loaded the way a
    user would: AutoModelForAudioClassification + AutoFeatureExtractor, trust_remote_code=True."""
    import torch
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    from .audio import read_audio

    model = AutoModelForAudioClassification.from_pretrained(model_dir, trust_remote_code=True).eval()
    feature_extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    results = []
    for item in files:
        path, truth = item if isinstance(item, tuple) else (item, "")
        audio = read_audio(path)
        inputs = feature_extractor(audio, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            probabilities = model(**inputs).logits.softmax(-1)[0]
        index = int(probabilities.argmax())
        results.append((str(path), truth, model.config.id2label[index], float(probabilities[index])))
    return results


def _arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--output-dir", default="runs/demo", help="where data, models, results and plots go (default runs/demo)")
    parser.add_argument("--data-root", default=None, help="folder with emodb/ and urdu/: run stage 1 on them instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage1-steps", type=int, default=None, help="default 240 (synthetic), 40 (--data-root)")
    parser.add_argument("--stage2-steps", type=int, default=120)
    parser.add_argument("--eval-steps", type=int, default=None, help="default 40 (synthetic), 20 (--data-root)")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    return parser


def _run(args) -> int:
    run_demo(
        output_dir=args.output_dir,
        data_root=args.data_root,
        seed=args.seed,
        stage1_steps=args.stage1_steps,
        stage2_steps=args.stage2_steps,
        eval_steps=args.eval_steps,
        learning_rate=args.learning_rate,
    )
    return 0


def add_parser(subparsers) -> None:
    """`exhubert demo`."""
    parser = subparsers.add_parser(
        "demo",
        help="offline demo: both training stages on synthetic corpora with a tiny model (minutes, CPU)",
        description=__doc__.split("\n\n")[0],
    )
    _arguments(parser).set_defaults(func=_run)


def main(argv=None) -> int:
    parser = _arguments(argparse.ArgumentParser(prog="demo", description=__doc__.split("\n\n")[0]))
    return _run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
