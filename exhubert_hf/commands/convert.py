"""`exhubert convert-official` (the published checkpoint into this package's format) and `exhubert export`
(ONNX for onnxruntime)."""

from . import EXIT_OK


def add_parsers(subparsers, common) -> None:
    from ..hub.convert import PUBLISHED_REPO_ID

    convert = subparsers.add_parser(
        "convert-official",
        parents=[common],
        help="convert the published ExHuBERT checkpoint into this package's format",
        description=(
            "Convert the published ExHuBERT checkpoint (a local folder or a Hub id) losslessly into a folder that "
            "loads on current transformers without the published remote code."
        ),
    )
    convert.add_argument("source", metavar="SRC", help=f"folder or Hub id of the published checkpoint, e.g. {PUBLISHED_REPO_ID}")
    convert.add_argument("destination", metavar="DST", help="folder to write the converted model to")
    convert.add_argument(
        "--revision", help="Hub branch, tag or full 40-hex commit to convert (Hub ids only); the resolved commit is recorded"
    )
    convert.add_argument("--overwrite", action="store_true", help="write into DST even if it is not empty")
    convert.set_defaults(func=_run_convert_official)

    export = subparsers.add_parser(
        "export",
        parents=[common],
        help="export a model to ONNX for onnxruntime",
        description="Export an audio-classification model folder or Hub id to ONNX (dynamic batch and length).",
    )
    export.add_argument("model", help="model folder or Hub id")
    export.add_argument("output", help="the .onnx file to write")
    export.add_argument("--revision", help="Hub revision (a branch, tag or full commit hash)")
    export.add_argument("--attention-mask", action="store_true", help="give the ONNX model an attention_mask input too")
    export.add_argument("--trust-remote-code", action="store_true", help="let a model folder of another type run its own code")
    export.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    export.set_defaults(func=_run_export)


def _run_convert_official(args) -> int:
    from ..configuration_exhubert import ExHubertConfig
    from ..hub.convert import convert_official_checkpoint

    destination = convert_official_checkpoint(args.source, args.destination, args.revision, args.overwrite)
    config = ExHubertConfig.from_pretrained(destination)
    gates = "kept (not all identity)" if config.original_layer_gates else "dropped (all exactly identity)"
    print(f"converted {config.converted_from['source']} (revision {config.converted_from['revision']}) into {destination}")
    print(f"original-layer gates: {gates}")
    return EXIT_OK


def _run_export(args) -> int:
    from ..inference.export import check_onnx_output, export_onnx
    from ..loading import load_audio_classifier

    check_onnx_output(args.output, args.overwrite)
    model = load_audio_classifier(args.model, args.revision, args.trust_remote_code)
    path = export_onnx(model, args.output, with_attention_mask=args.attention_mask, overwrite=args.overwrite)
    print(f"wrote {path}")
    return EXIT_OK
