"""`python -m exhubert_hf.train ...` / `accelerate launch -m exhubert_hf.train ...`: the `exhubert train` command."""

import sys

from ..commands.train import main

if __name__ == "__main__":
    sys.exit(main())
