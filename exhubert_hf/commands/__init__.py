"""The `exhubert` command line (also `python -m exhubert_hf`): one argparse tree, one table of exit statuses.

Each sub-command module registers its parsers with `add_parsers(subparsers, common)` and sets `func` on them: a
function taking the parsed arguments and returning an exit status. The library raises; this module decides what
the user sees:

    0  all good
    1  some inputs were skipped (each reported with the reason); the rest was done and written
    2  usage error, a model or input that cannot be used, or nothing done

An expected error (`exhubert_hf.errors.ExHubertError`, an OS error such as a missing file or a full disk, a Hub
error) is one line on stderr, `exhubert COMMAND: error: ...`, without a traceback; `--debug` (or
EXHUBERT_DEBUG=1) shows the traceback instead.
"""

import argparse
import os
import sys

from ..errors import ExHubertError, error_summary

EXIT_OK = 0
EXIT_SKIPPED = 1
EXIT_ERROR = 2


def _expected_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    return ExHubertError, OSError, HfHubHTTPError, HFValidationError, OfflineModeIsEnabled


def report(command: str, message) -> None:
    """`exhubert COMMAND: error: MESSAGE` on stderr."""
    print(f"exhubert {command}: error: {message}", file=sys.stderr)


def note(command: str, message) -> None:
    print(f"exhubert {command}: {message}", file=sys.stderr)


def quiet_loading() -> None:
    """One progress bar per long step (preparing corpora, downloading, training, predicting): transformers'
    "Loading weights" / "Writing model shards" bars, one per load and save, go. Its switch also silences
    huggingface_hub's download bars, which stay."""
    import transformers
    from huggingface_hub.utils import enable_progress_bars

    transformers.utils.logging.disable_progress_bar()
    enable_progress_bars()


def run_command(command: str, function, args, debug: bool) -> int:
    """`function(args)`, with the errors it raises turned into the documented exit statuses."""
    quiet_loading()
    try:
        return function(args)
    except KeyboardInterrupt:
        report(command, "interrupted")
        return 130
    except _expected_errors() as error:
        if debug:
            raise
        report(command, error if isinstance(error, ExHubertError) else f"{type(error).__name__}: {error}")
        return EXIT_ERROR
    except Exception as error:  # a bug of ours or of a library: still one line, and how to see more
        if debug:
            raise
        report(command, f"unexpected {type(error).__name__}: {error_summary(error)} (run with --debug for the traceback)")
        return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    from . import app, convert, demo, hub, predict, prepare, table2, train

    parser = argparse.ArgumentParser(
        prog="exhubert",
        description="ExHuBERT speech emotion recognition: prepare corpora, train, predict, convert and share models.",
        epilog="Exit status: 0 all good, 1 some inputs skipped (reported), 2 usage or loading error, nothing done.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks instead of one-line errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (demo, train, table2, prepare, predict, hub, convert, app):
        module.add_parsers(subparsers, common)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("EXHUBERT_DEBUG", "") not in ("", "0")
    if argv[:1] == ["--debug"]:
        debug, argv = True, argv[1:]
    if argv[:1] == ["train"]:  # `exhubert train` has transformers' argument parser (TrainingArguments)
        from .train import main as train_main

        return train_main(argv[1:], prog="exhubert train", debug=debug)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    return run_command(args.command, args.func, args, debug or getattr(args, "debug", False))


__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_SKIPPED", "build_parser", "main", "note", "report", "run_command"]
