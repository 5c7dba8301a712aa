"""`exhubert demo`: the offline demo (`exhubert_hf.train.demo`)."""

from . import EXIT_OK


def add_parsers(subparsers, common) -> None:
    from ..train.demo import DEFAULT_OUTPUT, DEFAULT_REAL_OUTPUT

    parser = subparsers.add_parser(
        "demo",
        parents=[common],
        help="offline demo: both training stages on synthetic corpora with a tiny model (minutes, CPU)",
        description="Both ExHuBERT training stages end to end on synthetic corpora with a tiny random HuBERT, on a CPU, "
        "with nothing downloaded; or stage 1 on real EMO-DB + URDU with --data-root.",
    )
    parser.add_argument("--output-dir", help=f"where data, models, results and plots go (default {DEFAULT_OUTPUT}, "
                        f"or {DEFAULT_REAL_OUTPUT} with --data-root)")  # fmt: skip
    parser.add_argument("--data-root", help="folder with emodb/ and urdu/: run stage 1 on them instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage1-steps", type=int, help="default: the bundled config's (240; 40 with --data-root)")
    parser.add_argument("--stage2-steps", type=int, help="default: the bundled config's (120)")
    parser.add_argument("--eval-steps", type=int, help="stage 1's evaluation interval (stage 2: half of it)")
    parser.set_defaults(func=_run)


def _run(args) -> int:
    from ..train.demo import run_demo

    run_demo(
        output_dir=args.output_dir,
        data_root=args.data_root,
        seed=args.seed,
        stage1_steps=args.stage1_steps,
        stage2_steps=args.stage2_steps,
        eval_steps=args.eval_steps,
    )
    return EXIT_OK
