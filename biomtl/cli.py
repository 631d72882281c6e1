"""The `biomtl` command line (subcommands are added by each part of the package)."""

from __future__ import annotations

import argparse
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="biomtl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from .data_scripts.cli import add_data_commands
    from .trainer.onnx_export import add_export_onnx_command
    from .trainer.predict_cli import add_predict_command
    from .trainer.push_cli import add_push_command
    from .trainer.train_cli import add_train_commands

    add_data_commands(sub)
    add_train_commands(sub)
    add_predict_command(sub)
    add_push_command(sub)
    add_export_onnx_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, KeyError) as err:
        # user-facing problems (missing files, bad corpus lines, unknown names): one clear line
        if os.environ.get("BIOMTL_DEBUG"):
            raise
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"biomtl: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
