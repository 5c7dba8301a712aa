"""`exhubert predict` and `exhubert embed`: emotion probabilities and embeddings for audio files.

    exhubert predict PATH... --model M [--revision R] [--window 3] [--hop H] [--batch-size 8]
                             [--format table|csv|jsonl|json] [--level both|file|window]
                             [--output FILE [--overwrite]] [--no-progress] [--int8] [--trust-remote-code]
                             [--plot DIR]
    exhubert predict - --stream --model M [--sampling-rate 16000] [--format table|csv|jsonl] [...]
    exhubert embed PATH... --model M [--layer -1] --output OUT.npy|OUT.parquet [...]

PATH is an audio file, a folder (searched recursively), a quoted glob or a .txt/.csv manifest
(`exhubert_hf.inference.sources`). Every argument is checked, and the outputs too, before the model is loaded;
files that cannot be used are reported on stderr as `PATH: reason` and the others are written (exit 1).
`--plot DIR` also draws each file's emotion timeline (`exhubert_hf.inference.timeline`); `-` with `--stream`
reads raw PCM from standard input and prints each window as it completes (`exhubert_hf.commands.predict_stream`).
"""

import sys
from pathlib import Path

from . import EXIT_OK, EXIT_SKIPPED, note
from .predict_stream import add_stream_arguments, run_stream


def _add_common_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files, folders, globs, or .txt/.csv manifests")
    parser.add_argument("--model", required=True, help="model folder or Hub id")
    parser.add_argument("--revision", help="Hub branch, tag or full 40-hex commit (pin a commit for reproducible results)")
    parser.add_argument("--window", default="3", help="window length in seconds (default: 3)")
    parser.add_argument("--hop", help="window step in seconds (default: the window length)")
    parser.add_argument("--batch-size", default="8", help="windows per forward pass (default: 8)")
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: cuda if available)")
    parser.add_argument(
        "--int8", action="store_true", help="CPU: int8 dynamic quantization of the encoder (about 2x faster, see docs/benchmarks.md)"
    )
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="let a model folder of a type this package does not know run its own Python code (never needed for ExHuBERT/HuBERT)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_parsers(subparsers, common) -> None:
    from ..inference.outputs import FORMATS
    from ..inference.results import LEVELS

    predict = subparsers.add_parser(
        "predict",
        parents=[common],
        help="predict emotion probabilities for audio files",
        description=(
            "Six-class emotion probabilities (arousal x valence) per window and per file. Exit status: 0 all "
            "files predicted, 1 some files failed (reported on stderr), 2 usage error or nothing to do."
        ),
    )
    _add_common_arguments(predict)
    predict.add_argument("--format", choices=FORMATS, help="output format (default: from --output's suffix, else table)")
    predict.add_argument("--level", choices=LEVELS, default="both", help="rows to write: file aggregates, windows or both")
    predict.add_argument("--output", "-o", help="file to write (default: standard output)")
    predict.add_argument("--plot", metavar="DIR", help="also write an emotion timeline PNG per file (and summary.png) to DIR")
    add_stream_arguments(predict)
    predict.set_defaults(func=_run_predict)

    embed = subparsers.add_parser(
        "embed",
        parents=[common],
        help="per-file embeddings (mean hidden state of a layer)",
        description=(
            "Per-file embeddings: the mean over time of hidden_states[LAYER]. Writes OUT.npy (plus OUT.files.txt) "
            "or OUT.parquet. Exit status: 0 all files embedded, 1 some failed, 2 usage error or nothing to do."
        ),
    )
    _add_common_arguments(embed)
    embed.add_argument("--layer", type=int, default=-1, help="hidden-state index (default: -1, the last layer)")
    embed.add_argument("--output", "-o", required=True, help="OUT.npy or OUT.parquet")
    embed.set_defaults(func=_run_embed)


def _predictor(args, command: str):
    """The files to process and the predictor; raises before any work when something cannot work."""
    from ..errors import InputError, UsageError
    from ..inference.predictor import EmotionPredictor
    from ..inference.sources import collect_audio_paths

    try:
        batch_size = int(args.batch_size)
    except ValueError:
        raise UsageError(f"--batch-size must be a whole number, got {args.batch_size!r}") from None
    files, notes = collect_audio_paths(args.paths)
    for message in notes:
        note(command, message)
    if not files:
        raise InputError("no audio files to process")
    predictor = EmotionPredictor(
        args.model,
        revision=args.revision,
        window=args.window,
        hop=args.hop,
        batch_size=batch_size,
        device=args.device,
        show_progress=not args.no_progress,
        int8=args.int8,
        trust_remote_code=args.trust_remote_code,
    )
    return predictor, files


def _report_failures(command: str, failed: dict[str, str], total: int) -> int:
    """Lists the failed files; EXIT_SKIPPED when some failed, an `InputError` (nothing is written) when all did."""
    from ..errors import InputError

    if not failed:
        return EXIT_OK
    note(command, f"{len(failed)} of {total} files failed:")
    for path, reason in failed.items():
        print(f"  {path}: {reason}", file=sys.stderr)
    if len(failed) == total:
        raise InputError(f"none of the {total} files could be used; nothing written")
    return EXIT_SKIPPED


def _run_predict(args) -> int:
    from ..inference.outputs import check_outputs, format_predictions, output_format, write_text
    from ..inference.timeline import check_plot_folder, write_timelines

    if args.stream or args.paths == ["-"]:
        return run_stream(args, lambda: _predictor(args, "predict")[0])
    output = Path(args.output) if args.output else None
    fmt = output_format(args.format, output)
    if output:
        check_outputs([output], args.overwrite)
    if args.plot:
        check_plot_folder(args.plot, args.overwrite)
    predictor, files = _predictor(args, "predict")
    predictions = predictor.predict_files(files)
    status = _report_failures("predict", predictions.failed, len(files))
    text = format_predictions(predictions.to_frame(args.level), fmt)
    if output:
        write_text(text, output, args.overwrite)
    else:
        sys.stdout.write(text)
    if args.plot:
        plots = write_timelines(predictions, args.plot, args.model, args.overwrite, show_progress=not args.no_progress)
        note("predict", f"wrote {len(plots)} plots to {args.plot}")
    return status


def _run_embed(args) -> int:
    from ..inference.outputs import check_outputs, embedding_outputs, write_embeddings

    output = Path(args.output)
    check_outputs(embedding_outputs(output), args.overwrite)
    predictor, files = _predictor(args, "embed")
    embeddings = predictor.embed_files(files, layer=args.layer)
    status = _report_failures("embed", embeddings.failed, len(files))
    write_embeddings(embeddings, output, args.overwrite, metadata={"model": str(args.model), "revision": str(args.revision)})
    note("embed", f"wrote {len(embeddings.files)} embeddings of {embeddings.vectors.shape[1]} dimensions to {output}")
    return status
