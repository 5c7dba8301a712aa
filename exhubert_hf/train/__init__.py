"""Fine-tuning: the paper's two stages with round-robin batches over corpora.

`trainer` (`RoundRobinTrainer`, a transformers `Trainer`), `checkpoints` (the crash-safe checkpoint protocol),
`arguments` (the arguments, the paper's defaults and the bundled configs in `configs/`), `checks` (a run's settings,
checked before anything expensive; what a run leaves in output_dir), `run` (a whole run: data, model, training,
results), `frozen_layers` (what stage 2 keeps of its frozen originals for backward), `evaluation` (UAR, WA, results
files), `plots`, `callbacks` (the plots as a `TrainerCallback`), `demo` (the offline demo), `table2` (the paper's Table 2 grid,
with the published numbers in `table2_paper.yaml`) and `debug`
(instrumentation for the distributed tests). `accelerate launch -m exhubert_hf.train --config NAME`
runs `exhubert train`.
"""
