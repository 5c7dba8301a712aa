"""`exhubert prepare NAME=ROOT ...`: corpora in their original layout -> a cached six-class training dataset."""

from collections import Counter
from pathlib import Path

from . import EXIT_OK, EXIT_SKIPPED, note


def add_parsers(subparsers, common) -> None:
    from ..data.corpora import CORPORA

    parser = subparsers.add_parser(
        "prepare",
        parents=[common],
        help="prepare emotional-speech corpora into a six-class training dataset",
        description=(
            "Read corpora in their original layout, map their labels to the six ExHuBERT classes, split them "
            "speaker-independently (or by the corpus's own split) and decode all audio to 16 kHz mono. "
            f"Known corpora: {', '.join(sorted(CORPORA))}; manifest:NAME=FILE reads a CSV/JSONL with columns path, "
            "label [, speaker, split, language, gender]. Exit status: 0 all files used, 1 some files skipped "
            "(output written), 2 usage or label-mapping errors (nothing written)."
        ),
    )
    parser.add_argument("corpora", nargs="+", metavar="NAME=ROOT", help="corpus and its root folder, e.g. emodb=/data/emodb")
    parser.add_argument("--cache-dir", help=f"cache folder (default: $EXHUBERT_CACHE/prepared or {Path('~/.cache/exhubert/prepared')})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the speaker and random splits (default 0)")
    parser.add_argument(
        "--own-splits", nargs="+", default=[], metavar="NAME",
        help="keep these corpora's own split although it shares speakers between train/validation/test (e.g. esd); "
        "by default such a split is replaced by a speaker-independent one, as in the paper",
    )  # fmt: skip
    parser.add_argument("--output", help="also write the dataset (DatasetDict.save_to_disk) and its split files to this folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output folder")
    parser.add_argument("--rebuild", action="store_true", help="prepare again even if the cache has this exact input")
    parser.add_argument("--num-proc", type=int, default=1, help="worker processes for decoding (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    from ..data.plan import parse_corpus_entries, parse_corpus_specs
    from ..data.prepare import prepare_corpora
    from ..fileio import check_writable

    corpora = parse_corpus_entries(args.corpora)
    parse_corpus_specs(corpora)  # every name and root checked before anything is decoded
    if args.output:
        check_writable(args.output, args.overwrite)
    result = prepare_corpora(
        corpora, args.cache_dir, args.seed, args.rebuild, not args.no_progress, args.num_proc, own_splits=args.own_splits
    )
    print(result.summary())
    print(f"\n{'loaded from cache' if result.from_cache else 'prepared'}: {result.cache_path}")
    if result.unlabeled:
        counts = Counter((item.corpus, item.original_label) for item in result.unlabeled)
        print(f"{len(result.unlabeled)} clip(s) left out as unlabeled: " + ", ".join(f"{c} {label!r}: {n}" for (c, label), n in sorted(counts.items())))
    if args.output:
        print(f"written to {result.save(args.output, overwrite=args.overwrite)}")
    if result.skipped:
        note("prepare", f"{len(result.skipped)} file(s) skipped:")
        for path, reason in result.skipped:
            note("prepare", f"  {path}: {reason}")
        return EXIT_SKIPPED
    return EXIT_OK
