"""`exhubert predict - --stream`: emotion of live audio, one line per window as soon as the window is complete.

    arecord -q -f S16_LE -r 16000 -c 1 -t raw | exhubert predict - --stream --model M --window 3 --hop 1
    sox -q -d -t raw -e signed -b 16 -c 1 -r 16000 - | exhubert predict - --stream --model M --format jsonl
    ffmpeg -loglevel error -i talk.mp3 -f s16le -ac 1 -ar 16000 - | exhubert predict - --stream --model M

Standard input is raw 16-bit little-endian PCM, mono, at `--sampling-rate` (16000 by default; other rates are
resampled). Each window is printed (and flushed) when its last sample has arrived, the shorter last window(s)
when the input ends (`exhubert_hf.inference.streaming`): the same windows and numbers as `exhubert predict` on
the recording. `--format table` (default) prints a readable line per window (top class, marginals and a
dimensional head's `dim_*` values), `csv` a header and a row per window, `jsonl` one JSON object per window, with
the columns of `exhubert predict`'s window rows.
"""

import os
import sys

from ..errors import InputError, UsageError

STREAM_FORMATS = ("table", "csv", "jsonl")


def add_stream_arguments(parser) -> None:
    parser.add_argument(
        "--stream", action="store_true", help="PATH is - : read raw 16-bit PCM (mono) from standard input, print each window as it completes"
    )
    parser.add_argument("--sampling-rate", type=int, default=16000, help="--stream: the input's sampling rate in Hz (default: 16000)")


def run_stream(args, load_predictor) -> int:
    """Checks the arguments, loads the predictor with `load_predictor()` and prints the windows of standard input."""
    from ..inference.results import FilePrediction, Predictions
    from ..inference.streaming import pcm16_chunks
    from . import EXIT_OK, note

    if args.paths != ["-"]:
        raise UsageError("--stream reads standard input: give - as the only PATH")
    if not args.stream:
        raise UsageError("- (standard input) is read with --stream")
    for option in ("output", "plot"):
        if getattr(args, option):
            raise UsageError(f"--{option} cannot be used with --stream, which prints each window to standard output")
    fmt = args.format or "table"
    if fmt not in STREAM_FORMATS:
        raise UsageError(f"--stream prints one line per window: use --format {', '.join(STREAM_FORMATS)}")
    if args.sampling_rate < 1:
        raise UsageError(f"--sampling-rate must be a positive number of Hz, got {args.sampling_rate}")
    predictor = load_predictor()
    count = 0
    try:
        for window in predictor.stream(pcm16_chunks(sys.stdin.buffer), args.sampling_rate):
            item = FilePrediction("-", window.end, [window])
            frame = Predictions(predictor.labels, [item], dimensions=predictor.dimensions).to_frame("window")
            sys.stdout.write(_line(frame, fmt, header=count == 0))
            sys.stdout.flush()
            count += 1
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, and let nothing flush to the closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    if count == 0:
        raise InputError("no audio on standard input")
    note("predict", f"{count} windows")
    return EXIT_OK


def _line(frame, fmt: str, header: bool) -> str:
    """One window row (a one-row frame) as a line of text; the csv and table formats start with a header."""
    if fmt == "csv":
        return frame.to_csv(index=False, header=header)
    if fmt == "jsonl":
        from ..inference.outputs import format_predictions

        return format_predictions(frame, "jsonl")
    from ..inference.results import DIMENSION_PREFIX

    row = frame.iloc[0]
    shown = [name for name in frame.columns if name == "arousal" or name.startswith(("valence_", DIMENSION_PREFIX))]
    values = "".join(f" {column} {row[column]:.3f}" for column in shown)
    classes = "top_class" in frame.columns
    title = f"{'start':>8} {'end':>8}  {'top class (probability)' if classes else 'dimensions'}\n" if header else ""
    top = f" {row['top_class']} ({row[row['top_class']]:.3f})" if classes else ""
    return f"{title}{row['start']:8.2f} {row['end']:8.2f} {top}{values}\n"
