"""The `exhubert` command line.

Each sub-command lives in the module that owns its concern and exposes
`add_parser(subparsers)`, which registers the sub-command and sets `func` on its parser: a
function taking the parsed arguments and returning the exit status.
"""

import argparse
import importlib
import sys

# module name (inside exhubert_hf) for each sub-command module, in help order
SUBCOMMAND_MODULES = ("demo", "prepare", "inference", "hub", "model_card", "convert", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exhubert",
        description="ExHuBERT speech emotion recognition: prepare corpora, convert, predict, share.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(f"exhubert_hf.{module_name}").add_parser(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
