"""`exhubert app`: the web demo (`exhubert_hf.app`) for a model, in the browser.

    exhubert app --model M [--revision R] [--host 127.0.0.1] [--port 7860] [--window 3] [--hop H]
                 [--examples FILE...] [--device D] [--trust-remote-code]

Needs Gradio (`pip install "exhubert-hf[app]"`); without it, exit status 2 and the command to install it.
"""

from . import note


def add_parsers(subparsers, common) -> None:
    app = subparsers.add_parser(
        "app",
        parents=[common],
        help="try a model in the browser (a Gradio web demo, as on a Hugging Face Space)",
        description=(
            "Serves a web page to upload or record speech and see its emotion: top class, the six probabilities, "
            "arousal and valence, and the timeline. Needs the app extra (pip install 'exhubert-hf[app]'). "
            "Exit status: 2 when the model cannot be loaded or Gradio is missing."
        ),
    )
    app.add_argument("--model", required=True, help="model folder or Hub id")
    app.add_argument("--revision", help="Hub branch, tag or full 40-hex commit")
    app.add_argument("--host", default="127.0.0.1", help="address to serve on (default: 127.0.0.1, this machine only)")
    app.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    app.add_argument("--window", default="3", help="window length in seconds (default: 3)")
    app.add_argument("--hop", help="window step in seconds (default: the window length)")
    app.add_argument("--examples", nargs="+", metavar="FILE", help="example clips (default: EMO-DB clips from ../shared/data when present)")
    app.add_argument("--device", help="torch device (default: cuda if available)")
    app.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="let a model folder of a type this package does not know run its own Python code (never needed for ExHuBERT/HuBERT)",
    )
    app.set_defaults(func=_run_app)


def _run_app(args) -> int:
    from ..errors import UsageError

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UsageError("the web demo needs Gradio: pip install 'exhubert-hf[app]'") from None
    from ..app import build_demo, default_examples, serve
    from ..inference.predictor import EmotionPredictor

    predictor = EmotionPredictor(args.model, revision=args.revision, window=args.window, hop=args.hop, device=args.device,
                                 show_progress=False, trust_remote_code=args.trust_remote_code)  # fmt: skip
    note("app", f"serving {args.model} on http://{args.host}:{args.port} (Ctrl-C stops it)")
    examples = default_examples() if args.examples is None else args.examples
    serve(build_demo(predictor, args.model, examples), examples, args.host, args.port)
    return 0
