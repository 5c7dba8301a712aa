"""The offline demo: ExHuBERT's two training stages end to end in a few minutes on a CPU, with nothing
downloaded.

    exhubert demo [--output-dir runs/demo]                # synthetic corpora (see exhubert_hf.data.synthetic)
    exhubert demo --data-root ../shared/data              # stage 1 on the real EMO-DB + URDU instead

Synthetic run:
1. writes four small corpora of synthetic emotional "speech" (WAV files + CSV manifests) to
   `<output-dir>/data`: three for stage 1 and a held-out target corpus for stage 2;
2. prepares them through `exhubert_hf.data.prepare` (the manifest adapter), as real corpora would be;
3. stage 1: fine-tunes a tiny random HuBERT round-robin over the three corpora (bundled config `demo`);
4. stage 2: block-expands the stage-1 model (originals and feature encoder frozen) and fine-tunes it on the
   held-out corpus (bundled config `demo_stage2`);
5. evaluates on the test splits (results.json/md/csv, validation-UAR and confusion-matrix PNGs);
6. reloads the saved model with `AutoModelForAudioClassification.from_pretrained(..., trust_remote_code=True)`
   and predicts a few files.

Both stages are parsed from the bundled configs by the same parser as `exhubert train`; the demo only points
them at its folders (and at shorter runs when asked). The tiny model learns with a learning rate of 2e-3 and a
trainable feature encoder in stage 1 (a random CNN is no HuBERT); the paper's settings are in the other configs.
With `--data-root`, stage 1 reads `<data-root>/emodb` and `<data-root>/urdu`, writes to `runs/demo-real` and
stops after stage 1: a random 2-layer model cannot learn emotion from real speech in a few dozen steps. It ends up
predicting about one class for every clip, which scores 25 % UAR on a corpus that has that class among its four
(EMO-DB and URDU each carry four of the six) and 0 % on one that has not; that run shows the data path on real
corpora, not recognition.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

STAGE1_CORPORA = ("synth_a", "synth_b", "synth_c")
TARGET_CORPUS = "synth_target"
DEFAULT_OUTPUT = "runs/demo"
DEFAULT_REAL_OUTPUT = "runs/demo-real"


def generate_demo_data(data_dir, seed: int = 0, scale: float = 1.0, clip_seconds: float = 0.8) -> dict[str, Path]:
    """The synthetic corpora: {name: manifest}. `scale` < 1 makes them smaller, `clip_seconds` the clips shorter."""
    from ..data.synthetic import generate_corpus

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


def _stage_arguments(config: str, corpora: list[str], output_dir: Path, steps: int | None, eval_steps: int | None, **flags):
    """The stage's arguments: the bundled config, pointed at the demo's folders, with the given overrides."""
    from .arguments import parse_training_arguments

    # the demo's folders are its own: a rerun replaces the previous demo run
    argv = ["--config", config, "--corpora", *corpora, "--output_dir", str(output_dir), "--disable_tqdm", "true",
            "--overwrite_output_dir", "true"]  # fmt: skip
    if steps is not None:
        argv += ["--max_steps", str(steps)]
    if eval_steps is not None:
        argv += ["--eval_steps", str(eval_steps), "--save_steps", str(eval_steps), "--logging_steps", str(max(1, eval_steps // 2))]
    for name, value in flags.items():
        argv += [f"--{name}", str(value)]
    return parse_training_arguments(argv)


def run_demo(
    output_dir=None,
    data_root=None,
    seed: int = 0,
    stage1_steps: int | None = None,
    stage2_steps: int | None = None,
    eval_steps: int | None = None,
    scale: float = 1.0,
    clip_seconds: float = 0.8,
    verbose: bool = True,
) -> dict:
    """Runs the demo (see the module docstring); returns {"stage1": summary, "stage2": summary or None,
    "predictions": [(file, true label, predicted label, probability)], "seconds": wall time}. Step counts left
    at None are the bundled configs' (stage 1 240 steps, evaluated every 40; stage 2 120, every 20; on real
    data 40 steps, every 20); `eval_steps` sets stage 1's evaluation interval and half of it stage 2's."""
    import datasets
    from transformers.utils import logging as hf_logging

    from .run import format_results, run_finetuning

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    logging.getLogger("exhubert_hf").setLevel(logging.ERROR)
    start = time.time()
    output_dir = Path(output_dir or (DEFAULT_OUTPUT if data_root is None else DEFAULT_REAL_OUTPUT))
    say = print if verbose else (lambda *args, **kwargs: None)
    cache = {"cache_dir": output_dir / "prepared", "seed": seed}
    if data_root is None:
        say(f"[1/6] generating synthetic corpora in {output_dir / 'data'}")
        manifests = generate_demo_data(output_dir / "data", seed=seed, scale=scale, clip_seconds=clip_seconds)
        stage1_corpora = [f"manifest:{name}={manifests[name]}" for name in STAGE1_CORPORA]
    else:
        data_root = Path(data_root)
        stage1_corpora = [f"emodb={data_root / 'emodb'}", f"urdu={data_root / 'urdu'}"]
        stage1_steps = 40 if stage1_steps is None else stage1_steps
        eval_steps = 20 if eval_steps is None else eval_steps
        say(f"[1/6] real corpora: {', '.join(stage1_corpora)}")

    say("[2/6] + [3/6] stage 1: tiny HuBERT, round-robin over " + ", ".join(c.split("=")[0].removeprefix("manifest:") for c in stage1_corpora))
    stage1 = run_finetuning(
        *_stage_arguments("demo", stage1_corpora, output_dir / "stage1", stage1_steps, eval_steps, **cache),
        callbacks=[_progress_callback(say)],
        quiet=True,
    )
    stage1.pop("trainer", None)
    say(format_results(stage1))

    stage2 = None
    final_dir = Path(stage1["model_dir"])
    if data_root is None:
        say(f"[4/6] stage 2: block expansion of the stage-1 model, fine-tuned on the held-out corpus {TARGET_CORPUS}")
        stage2 = run_finetuning(
            *_stage_arguments(
                "demo_stage2",
                [f"manifest:{TARGET_CORPUS}={manifests[TARGET_CORPUS]}"],
                output_dir / "stage2",
                stage2_steps,
                None if eval_steps is None else max(1, eval_steps // 2),
                model_name_or_path=stage1["model_dir"],
                **cache,
            ),
            callbacks=[_progress_callback(say)],
            quiet=True,
        )
        stage2.pop("trainer", None)  # release the model and optimizer before reloading from disk
        say(format_results(stage2))
        final_dir = Path(stage2["model_dir"])
        test_files = _test_files(manifests[TARGET_CORPUS], count=3)
    else:
        test_files = sorted((data_root / "emodb" / "wav").glob("*.wav"))[:3]

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
    if data_root is not None:
        say("(a random 2-layer model trained for a few dozen steps shows the data path on real speech, not emotion "
            "recognition: it predicts about one class for every clip, which scores 25 % UAR on a corpus that has that "
            "class among its four and 0 % on one that has not, so 0-25 % is what to expect)")
    say("plots: " + ", ".join(stage1["plots"] + (stage2["plots"] if stage2 else [])))
    say(f"done in {seconds:.0f} s")
    return {"stage1": stage1, "stage2": stage2, "predictions": predictions, "seconds": seconds}


def _test_files(manifest: Path, count: int) -> list[tuple[Path, str]]:
    """A few test clips of different classes (one each of every other class)."""
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

    from ..configuration_exhubert import SAMPLING_RATE
    from ..data.audio import read_audio

    model = AutoModelForAudioClassification.from_pretrained(model_dir, trust_remote_code=True).eval()
    feature_extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    results = []
    for item in files:
        path, truth = item if isinstance(item, tuple) else (item, "")
        inputs = feature_extractor(read_audio(path), sampling_rate=SAMPLING_RATE, return_tensors="pt")
        with torch.no_grad():
            probabilities = model(**inputs).logits.softmax(-1)[0]
        index = int(probabilities.argmax())
        results.append((str(path), truth, model.config.id2label[index], float(probabilities[index])))
    return results


__all__ = ["STAGE1_CORPORA", "TARGET_CORPUS", "generate_demo_data", "predict_files", "run_demo"]
