"""`exhubert push`, `exhubert pull`, `exhubert export-model` and `exhubert model-card`: sharing models on the
Hugging Face Hub."""

import sys
from pathlib import Path

from . import EXIT_OK, note


def add_parsers(subparsers, common) -> None:
    from ..hub.push import DEFAULT_COMMIT_MESSAGE

    push = subparsers.add_parser(
        "push",
        parents=[common],
        help="check a model folder or training run and upload it to the Hugging Face Hub",
        description=(
            "Upload FOLDER to REPO_ID (argument order and flags as `hf upload`; `push FOLDER REPO_ID`, with an "
            "existing FOLDER and no folder named REPO_ID, works too). FOLDER is a model folder, or a training "
            "run's output folder, which is published as its clean model folder (the best model's weights, config, "
            "remote code, preprocessor_config.json, a model card from the run's results, its plots; no checkpoints, "
            "optimizer states or pickles). Everything is checked first: complete, loads, no pickle (by content), no "
            "secret, no link leaving the folder, no code other than this package's. Uses the token of `hf auth "
            "login` or HF_TOKEN. Exit status: 0 uploaded or listed, 2 folder refused, Hub error or usage error."
        ),
    )
    push.add_argument("repo_id", metavar="REPO_ID", help="Hub repository, ORG/NAME")
    push.add_argument("folder", metavar="FOLDER", help="model folder (save_pretrained) or a training run's output_dir")
    push.add_argument("--revision", help="upload to this branch (created from main if missing)")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--include", nargs="*", metavar="PATTERN", help="upload only files matching these patterns")
    push.add_argument("--exclude", nargs="*", metavar="PATTERN", help="do not upload files matching these patterns")
    push.add_argument("--dry-run", action="store_true", help="list the files that would be uploaded; no network")
    push.add_argument("--commit-message", default=DEFAULT_COMMIT_MESSAGE, help="commit message")
    push.add_argument("--write-card", action="store_true", help="write (replace) README.md of a model folder before uploading")
    push.add_argument("--results", help="results.json for the card's evaluation section (with --write-card)")
    push.set_defaults(func=_run_push)

    export = subparsers.add_parser(
        "export-model",
        parents=[common],
        help="write a training run's best model as a clean folder, ready for `hf upload`",
        description=(
            "Write the clean model folder of RUN_DIR (a training run's output_dir, or a model folder) to OUT: exactly "
            "what `exhubert push REPO_ID RUN_DIR` would upload, for `hf upload REPO_ID OUT`. Exit status: 0 written, "
            "2 refused or usage error (nothing written)."
        ),
    )
    export.add_argument("run_dir", metavar="RUN_DIR", help="a training run's output_dir (or a model folder)")
    export.add_argument("output", metavar="OUT", help="the folder to write")
    export.add_argument("--repo-id", help="Hub repository the model will live in (named in the card's usage snippets)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing OUT folder")
    export.set_defaults(func=_run_export_model)

    pull = subparsers.add_parser(
        "pull",
        parents=[common],
        help="download a model snapshot from the Hugging Face Hub",
        description=(
            "Download REPO_ID at REVISION into the Hub cache or --local-dir and print the resolved commit. Honours "
            "HF_HUB_OFFLINE=1 (cache only). Exit status: 0 fetched, 2 not available or usage error."
        ),
    )
    pull.add_argument("repo_id", metavar="REPO_ID", help="Hub repository, ORG/NAME")
    pull.add_argument("--revision", help="full 40-hex commit (recommended), branch or tag; default main")
    pull.add_argument("--local-dir", help="copy the files into this folder instead of using them from the cache")
    pull.add_argument("--overwrite", action="store_true", help="write into a --local-dir that is not empty (replacing files of the same names)")
    pull.add_argument("--cache-dir", help="Hub cache folder (default: HF_HUB_CACHE)")
    pull.set_defaults(func=_run_pull)

    card = subparsers.add_parser(
        "model-card",
        parents=[common],
        help="write the Hub model card (README.md) of a model folder",
        description="Write FOLDER/README.md: YAML metadata with a model-index from results.json, usage, training, limitations.",
    )
    card.add_argument("folder", metavar="FOLDER", help="model folder (with config.json)")
    card.add_argument("--results", help="results.json of the evaluation (per-corpus UAR/WA)")
    card.add_argument("--repo-id", help="Hub repository the card will live in (used in the usage snippets)")
    card.add_argument("--base-model", help="Hub id of the model this one was trained from")
    card.add_argument("--dataset", action="append", dest="datasets", help="Hub dataset id used in training (repeatable)")
    card.add_argument("--license", default="apache-2.0", help="license identifier (default: apache-2.0)")
    card.add_argument("--overwrite", action="store_true", help="replace an existing README.md")
    card.set_defaults(func=_run_model_card)


def _size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def _run_push(args) -> int:
    from ..errors import UsageError
    from ..hub.push import push_to_hub

    if args.results and not args.write_card:
        raise UsageError("--results is used with --write-card")
    if Path(args.repo_id).is_dir() and not Path(args.folder).is_dir():  # `exhubert push RUN_DIR REPO_ID`: unambiguous
        args.repo_id, args.folder = args.folder, args.repo_id
    result = push_to_hub(
        args.repo_id,
        args.folder,
        private=args.private,
        revision=args.revision,
        dry_run=args.dry_run,
        commit_message=args.commit_message,
        write_card=args.write_card,
        results=args.results,
        include=args.include,
        exclude=args.exclude,
    )
    if result.from_run:
        note("push", f"{args.folder} is a training run: publishing its clean model folder")
    if result.note:
        note("push", result.note)
    target = f"{result.repo_id}" + (f" (revision {result.revision})" if result.revision else "")
    verb = "dry run: would upload" if result.dry_run else "uploaded"
    print(f"{verb} {len(result.files)} files ({_size(result.total_bytes)}) to {target}:")
    for path, size in result.files:
        print(f"{size:>14}  {path}")
    if result.commit_url:
        print(f"commit: {result.commit_url}")
    return EXIT_OK


def _run_export_model(args) -> int:
    from ..hub.model_folder import export_model_folder

    model = export_model_folder(args.run_dir, args.output, repo_id=args.repo_id, overwrite=args.overwrite)
    if model.note:
        note("export-model", model.note)
    print(f"wrote {args.output} (the model of {model.weights_dir}); upload it with `hf upload REPO_ID {args.output}`")
    return EXIT_OK


def _run_pull(args) -> int:
    from ..hub.pull import pull_from_hub

    result = pull_from_hub(
        args.repo_id, revision=args.revision, local_dir=args.local_dir, cache_dir=args.cache_dir, overwrite=args.overwrite
    )
    for warning in result.warnings:
        note("pull", f"warning: {warning}")
    print(f"repo: {result.repo_id}")
    print(f"commit: {result.commit or 'unknown'}")
    print(f"path: {result.path}")
    return EXIT_OK


def _run_model_card(args) -> int:
    from ..errors import InputError
    from ..fileio import check_writable
    from ..hub.model_card import CARD_FILE, write_model_card

    folder = Path(args.folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder")
    check_writable(folder / CARD_FILE, args.overwrite)
    path = write_model_card(
        folder, results=args.results, base_model=args.base_model, datasets=args.datasets, license=args.license, repo_id=args.repo_id
    )
    print(f"wrote {path}", file=sys.stdout)
    return EXIT_OK
