#!/usr/bin/env python
"""Fine-tune HuBERT / ExHuBERT for six-class speech emotion recognition: the `exhubert train` command as a
script, for `accelerate launch training/finetune.py ...`.

    python training/finetune.py --config stage1_emoset --corpora emodb=/data/emodb urdu=/data/urdu
    accelerate launch training/finetune.py --config stage2_exhubert --max_steps 500

`--config` takes a YAML/JSON file or the name of a bundled config (exhubert_hf/train/configs); `--help` lists
every flag. See exhubert_hf.commands.train.
"""

import sys
from pathlib import Path

try:
    from exhubert_hf.commands.train import main
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from exhubert_hf.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
