#!/usr/bin/env python
"""The paper's Table 2 grid: every column (HuBERT Large LS960 / EmoSet++, ExHuBERT Large LS960 / EmoSet++,
Non-Frozen, XLarge) fine-tuned on every target corpus, each its own resumable run; writes table2.md, table2.csv and
figure3.png. The `exhubert table2` command as a script (see exhubert_hf.train.table2).

    python training/table2.py jl_corpus=/data/jl vivae=/data/vivae --stage1-model runs/stage1_emoset --output runs/table2
    python training/table2.py --smoke --output runs/table2-smoke      # synthetic corpora, tiny models, CPU
"""

import sys
from pathlib import Path

try:
    from exhubert_hf.commands import main
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from exhubert_hf.commands import main

if __name__ == "__main__":
    sys.exit(main(["table2", *sys.argv[1:]]))
