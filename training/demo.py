#!/usr/bin/env python
"""The offline demo: both ExHuBERT training stages on synthetic corpora with a tiny model, on a CPU, in a few
minutes, with nothing downloaded: the `exhubert demo` command as a script (see exhubert_hf.train.demo).

    python training/demo.py [--output-dir runs/demo]
    python training/demo.py --data-root ../shared/data     # stage 1 on the real EMO-DB + URDU
"""

import sys
from pathlib import Path

try:
    from exhubert_hf.commands import main
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from exhubert_hf.commands import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
