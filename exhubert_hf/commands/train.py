"""`exhubert train --config CONFIG [--flag value ...]`: fine-tune HuBERT / ExHuBERT (the paper's two stages).

The same command is `accelerate launch -m exhubert_hf.train ...` and `python training/finetune.py ...`. Its
arguments are transformers' `TrainingArguments` plus ours (`exhubert_hf.train.arguments`), parsed by
transformers' `HfArgumentParser`, so this sub-command has its own parser.
"""

import logging
import sys

from . import EXIT_OK, run_command

HELP = "fine-tune HuBERT / ExHuBERT round-robin over corpora (--config NAME_OR_FILE; --help lists every flag)"


def add_parsers(subparsers, common) -> None:
    # Listed for `exhubert --help`; `main` hands `exhubert train ...` to `main` below before argparse sees it.
    subparsers.add_parser("train", help=HELP, add_help=False)


def _train(argv: list[str], prog: str) -> int:
    import transformers

    from ..train.arguments import parse_training_arguments
    from ..train.run import format_results, run_finetuning

    model_args, data_args, training_args = parse_training_arguments(argv, prog=prog)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    summary = run_finetuning(model_args, data_args, training_args)
    if training_args.process_index == 0:
        print(format_results(summary))
    return EXIT_OK


def main(argv=None, prog: str = "exhubert train", debug: bool = False) -> int:
    """`exhubert train`, `python -m exhubert_hf.train` and `training/finetune.py`; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_command("train", lambda _: _train(argv, prog), None, debug)


__all__ = ["main"]
