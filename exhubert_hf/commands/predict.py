"""`exhubert predict` and `exhubert embed`: emotion probabilities and embeddings for audio files.

    exhubert predict PATH... --model M [--revision R] [--window 3] [--hop H] [--batch-size 8]
                             [--max-batch-seconds 48] [--backend auto|torch|bf16|int8|onnx|onnx-int8]
                             [--format table|csv|jsonl|json] [--level both|file|window]
                             [--output FILE [--overwrite]] [--no-progress] [--backend auto] [--trust-remote-code]
                             [--plot DIR]
    exhubert predict - --stream --model M [--sampling-rate 16000] [--format table|csv|jsonl] [...]
    exhubert embed PATH... --model M [--layer -1] --output OUT.npy|OUT.parquet [...]

PATH is an audio file, a folder (searched recursively), a quoted glob or a .txt/.csv manifest
(`exhubert_hf.inference.sources`). Every argument is checked, and the outputs too, before the model is loaded;
files that cannot be used are reported on stderr as `PATH: reason` and the others are written (exit 1). The
backend that runs, and why, is one line on stderr. `--plot DIR` also draws each file's emotion timeline
(`exhubert_hf.inference.timeline`); `-` with `--stream` reads raw PCM from standard input and prints each window as
it completes (`exhubert_hf.commands.predict_stream`).

Several processes: `accelerate launch --num_processes N -m exhubert_hf predict ...` (or torchrun) splits the
files between the processes in order with Accelerate's `split_between_processes`, each on its own device
(`cuda:LOCAL_RANK`, or the CPU), gathers the results with `gather_object`, and the main process reports and
writes the one output, the same as one process would (the backends' results do not depend on the batches).
"""

import os
import sys
from contextlib import contextmanager
from pathlib import Path

from . import EXIT_OK, EXIT_SKIPPED, note
from .predict_stream import add_stream_arguments, run_stream


def _add_common_arguments(parser) -> None:
    from ..inference.backends import BACKENDS

    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files, folders, globs, or .txt/.csv manifests")
    parser.add_argument("--model", required=True, help="model folder or Hub id")
    parser.add_argument("--revision", help="Hub branch, tag or full 40-hex commit (pin a commit for reproducible results)")
    parser.add_argument("--window", default="3", help="window length in seconds (default: 3)")
    parser.add_argument("--hop", help="window step in seconds (default: the window length)")
    parser.add_argument("--batch-size", default="8", help="GPU: windows per forward pass at most (default: 8; a CPU takes one at a time)")
    parser.add_argument(
        "--max-batch-seconds", default="48", help="GPU: padded audio per forward pass at most, in seconds (default: 48; one window always)"
    )
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: cuda if available)")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="how the model runs: torch (float32), bf16, int8 (CPU), onnx, onnx-int8 (CPU, onnxruntime); auto "
        "(default): bf16 on CUDA, int8 on CPU for ExHuBERT/HuBERT models, else torch. See docs/benchmarks.md",
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
            "Six-class emotion probabilities (arousal x valence) per window and per file, and a dimensional head's "
            "continuous dimensions (columns dim_arousal, dim_valence, ...) where the model has one. Exit status: 0 "
            "all files predicted, 1 some files failed (reported on stderr), 2 usage error or nothing to do."
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


def _distributed(device: str | None):
    """Accelerate's process state when launched as several processes (accelerate launch, torchrun), else None.
    Without CUDA, or with `--device cpu`, the processes talk over gloo on the CPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available() or str(device).startswith("cpu"))


@contextmanager
def _main_process_first(state):
    """The main process builds first (an ONNX export is written to the cache once), the others then find it; the
    main process reaches the barrier even when it fails, so the others never wait for it forever."""
    if state is not None and not state.is_main_process:
        state.wait_for_everyone()
    try:
        yield
    finally:
        if state is not None and state.is_main_process:
            state.wait_for_everyone()


def _predictor(args, command: str, state):
    """The files to process and the predictor; raises before any work when something cannot work."""
    from ..errors import InputError, UsageError
    from ..inference.predictor import EmotionPredictor
    from ..inference.sources import collect_audio_paths

    try:
        batch_size = int(args.batch_size)
    except ValueError:
        raise UsageError(f"--batch-size must be a whole number, got {args.batch_size!r}") from None
    main = state is None or state.is_main_process
    files, notes = collect_audio_paths(args.paths)
    for message in notes if main else ():
        note(command, message)
    if not files:
        raise InputError("no audio files to process")
    device = args.device if args.device is not None or state is None else state.device
    with _main_process_first(state):
        predictor = EmotionPredictor(
            args.model,
            revision=args.revision,
            window=args.window,
            hop=args.hop,
            batch_size=batch_size,
            max_batch_seconds=args.max_batch_seconds,
            device=device,
            backend=args.backend,
            show_progress=not args.no_progress and main,
            trust_remote_code=args.trust_remote_code,
        )
    if main:
        backend = predictor.backend
        processes = f"; {state.num_processes} processes" if state is not None else ""
        note(command, f"backend {backend.name}: {backend.description} ({backend.reason}){processes}")
    return predictor, files


def _gathered(state, files: list, run) -> list:
    """`run(files)` in one process, or `run(this process's share)` in each, with every process's results in
    file order (on every process)."""
    if state is None:
        return run(files)
    from accelerate.utils import gather_object

    with state.split_between_processes(files) as share:
        results = run(share)
    return gather_object(results)


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


def _metadata(predictor, state) -> dict[str, str]:
    return {**predictor.metadata, "processes": str(state.num_processes if state is not None else 1)}


def _final_status(command: str, state, status: int) -> int:
    """Launchers (torch elastic under accelerate launch) take any non-zero exit for a crash and kill the other
    processes: under several processes a written output with skipped files (listed above and in the output's
    `error` column) exits 0."""
    if state is not None and status == EXIT_SKIPPED:
        note(command, "exit status 0 instead of 1 under a multi-process launcher; the skipped files are listed above")
        return EXIT_OK
    return status


def _run_predict(args) -> int:
    from ..inference.outputs import check_outputs, format_predictions, output_format, write_text
    from ..inference.results import Predictions
    from ..inference.timeline import check_plot_folder, write_timelines

    if args.stream or args.paths == ["-"]:
        return run_stream(args, lambda: _predictor(args, "predict", None)[0])
    output = Path(args.output) if args.output else None
    fmt = output_format(args.format, output)
    if output:
        check_outputs([output], args.overwrite)
    if args.plot:
        check_plot_folder(args.plot, args.overwrite)
    state = _distributed(args.device)
    predictor, files = _predictor(args, "predict", state)
    results = _gathered(state, files, lambda share: predictor.predict_files(share).files)
    if state is not None and not state.is_main_process:
        return EXIT_OK
    predictions = Predictions(predictor.labels, results, _metadata(predictor, state), predictor.dimensions)
    status = _report_failures("predict", predictions.failed, len(files))
    text = format_predictions(predictions.to_frame(args.level), fmt)
    if output:
        write_text(text, output, args.overwrite)
    else:
        sys.stdout.write(text)
    if args.plot:
        plots = write_timelines(predictions, args.plot, args.model, args.overwrite, show_progress=not args.no_progress)
        note("predict", f"wrote {len(plots)} plots to {args.plot}")
    return _final_status("predict", state, status)


def _run_embed(args) -> int:
    import numpy as np

    from ..inference.outputs import check_outputs, embedding_outputs, write_embeddings
    from ..inference.results import Embeddings

    output = Path(args.output)
    check_outputs(embedding_outputs(output), args.overwrite)
    state = _distributed(args.device)
    predictor, files = _predictor(args, "embed", state)
    shares = _gathered(state, files, lambda share: [predictor.embed_files(share, layer=args.layer)])
    if state is not None and not state.is_main_process:
        return EXIT_OK
    embeddings = Embeddings(
        [name for share in shares for name in share.files],
        np.concatenate([share.vectors for share in shares]),
        {path: reason for share in shares for path, reason in share.failed.items()},
        args.layer,
        _metadata(predictor, state),
    )
    status = _report_failures("embed", embeddings.failed, len(files))
    metadata = {"model": str(args.model), "revision": str(args.revision), **embeddings.metadata}
    write_embeddings(embeddings, output, args.overwrite, metadata=metadata)
    note("embed", f"wrote {len(embeddings.files)} embeddings of {embeddings.vectors.shape[1]} dimensions to {output}")
    return _final_status("embed", state, status)
