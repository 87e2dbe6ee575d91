"""The `loraplane` command: the top-level parser and dispatch. Each command group (loraplane.commands)
registers its own arguments and handler; handlers import what they need only when they run."""
import argparse
import sys

from .cli_options import Parser
from .commands import (adapters, completion, demo, dev, doctor, image, invoke, local, logs, models, pipeline, project,
                       reconcile, redrive, serve, status, train)
from .commands import usage

# In the order `loraplane --help` lists them.
GROUPS = (local, status, usage, adapters, invoke, logs, models, image, dev, serve, reconcile, redrive, doctor, project,
          train, pipeline, demo)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="loraplane", description="LoRA Plane: many LoRA adapters on one SageMaker endpoint.")
    p.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parser(sub)
    completion.add_parser(sub, root=p)  # last: it completes what the others registered
    return p


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("loraplane")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    from .cli_errors import run

    args = parser().parse_args(argv)
    return run(args.handler, args)  # errors the user can fix: one line and an exit code, no traceback


if __name__ == "__main__":
    sys.exit(main())
