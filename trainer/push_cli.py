"""`biomtl push MODEL REPO_ID [--private] [--revision BRANCH] [--commit-message MSG] [--token TOKEN]`."""

from __future__ import annotations

import argparse
import sys


def add_push_command(subparsers) -> None:
    """Add the `push` subcommand to the `biomtl` subparsers."""
    p = subparsers.add_parser(
        "push", help="upload a saved model folder (model, tokenizer, code, card) to the Hugging Face Hub",
        description="Upload a saved model folder to the Hub: weights, config, tokenizer, the model and pipeline "
                    "code, all_results.json and the model card (README.md, generated when missing). Needs a "
                    "token (HF_TOKEN or `hf auth login`) and HF_HUB_OFFLINE unset.")
    p.add_argument("model", help="saved model folder (e.g. OUTPUT_DIR/best)")
    p.add_argument("repo_id", help="Hub repo id, e.g. my-org/biomtl-sru-ner (created when missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", help="branch to push to (created from main when missing); default main")
    p.add_argument("--commit-message", help="commit message (default: 'Upload <family> model with biomtl')")
    p.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved login)")
    p.set_defaults(func=_push)


def _push(args: argparse.Namespace) -> int:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    from .hub import push_to_hub

    try:
        url = push_to_hub(args.model, args.repo_id, private=args.private, revision=args.revision,
                          commit_message=args.commit_message, token=args.token)
    except OfflineModeIsEnabled:
        print("biomtl: error: HF_HUB_OFFLINE is set; unset it to push to the Hub", file=sys.stderr)
        return 2
    except HfHubHTTPError as err:
        print(f"biomtl: error: the Hub refused the upload: {err}", file=sys.stderr)
        return 1
    print(url)
    return 0
