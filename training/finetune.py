#!/usr/bin/env python
"""Fine-tune HuBERT / ExHuBERT for six-class speech emotion recognition (the paper's two stages).

    python training/finetune.py --config training/configs/stage1_emoset.yaml [--flag value ...]
    accelerate launch training/finetune.py --config training/configs/stage2_exhubert.yaml --max_steps 500

Settings: the paper's defaults, then the config file (YAML or JSON: the flags below as keys), then the
command line. Flags are ModelArguments, DataArguments (exhubert_hf.trainer) and transformers'
TrainingArguments (`--help` lists them all). Resume an interrupted run with
`--resume_from_checkpoint last` (the newest completely written checkpoint in output_dir, or a fresh start if
there is none) or with a checkpoint folder.

Writes to output_dir: the final model (best by mean validation UAR with load_best_model_at_end), loadable with
`AutoModelForAudioClassification.from_pretrained(output_dir, trust_remote_code=True)`, checkpoint-N folders,
results.json / results.md / results.csv (test UAR and WA per corpus), validation_uar.png and
confusion_<corpus>.png.
"""

import sys
from pathlib import Path

try:
    from exhubert_hf.trainer import main
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from exhubert_hf.trainer import main

if __name__ == "__main__":
    sys.exit(main())
