"""`exhubert table2 NAME=ROOT ... --output DIR`: the paper's Table 2 grid (`exhubert_hf.train.table2`)."""

import shlex

from . import EXIT_OK, EXIT_SKIPPED, note


def add_parsers(subparsers, common) -> None:
    from ..data.roles import load_corpus_roles
    from ..train.table2 import COLUMNS

    unseen = " ".join(load_corpus_roles().unseen_test_corpora)
    parser = subparsers.add_parser(
        "table2",
        parents=[common],
        help="the paper's Table 2: every model on every unseen test corpus, one resumable run each",
        description=(
            "Fine-tune every Table 2 column (" + ", ".join(f"{c.key}: {c.title}" for c in COLUMNS) + ") on every "
            "target corpus, each its own run under OUTPUT/runs (finished runs are skipped, interrupted ones resume), "
            "then write OUTPUT/table2.md, table2.csv (measured test UAR beside the paper's) and figure3.png. Exit "
            "status: 0 every run finished, 1 some runs failed (each reported), 2 usage error (nothing run)."
        ),
    )
    parser.add_argument("targets", nargs="*", metavar="NAME=ROOT",
                        help=f"target corpora, e.g. jl_corpus=/data/jl manifest:aesi=/data/aesi.csv (the paper's: {unseen})")  # fmt: skip
    parser.add_argument("--output", required=True, help="folder of the runs, table2.md/.csv and figure3.png")
    parser.add_argument("--stage1-model", help="the stage-1 model (output_dir of `exhubert train --config stage1_emoset`), "
                        "the start of the EmoSet++ columns")  # fmt: skip
    parser.add_argument("--columns", nargs="+", metavar="COLUMN", help="only these columns (default: all)")
    parser.add_argument("--train-args", default="", help='extra `exhubert train` flags for every run, e.g. "--bf16 true"')
    parser.add_argument("--smoke", action="store_true",
                        help="the whole grid on synthetic corpora with tiny random models, a few steps each (minutes, CPU)")  # fmt: skip
    parser.set_defaults(func=_run)


def _run(args) -> int:
    from ..errors import UsageError
    from ..train.table2 import run_smoke, run_table2

    train_args = shlex.split(args.train_args)
    if args.smoke:
        if args.targets or args.stage1_model or train_args:
            raise UsageError("--smoke makes its own synthetic targets and stage-1 model; give no targets, --stage1-model or --train-args")
        result = run_smoke(args.output, columns=args.columns)
    else:
        if not args.targets:
            raise UsageError("give the target corpora as NAME=ROOT (or --smoke)")
        result = run_table2(args.targets, args.output, args.stage1_model, args.columns, train_args)
    for name in ("table_md", "table_csv", "figure"):
        print(f"written: {result[name]}")
    if "seconds" in result:
        print(f"smoke grid done in {result['seconds']:.0f} s")
    if result["failed"]:
        note("table2", f"{len(result['failed'])} run(s) failed:")
        for run, reason in result["failed"].items():
            note("table2", f"  {run}: {reason}")
        return EXIT_SKIPPED
    return EXIT_OK
