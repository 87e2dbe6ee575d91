"""The `loraplane` command: the top-level parser and dispatch. Each command group (loraplane.commands)
registers its own arguments and handler; handlers import what they need only when they run."""
import argparse
import sys

from .commands import adapters, demo, dev, doctor, local, models, pipeline, project, reconcile, redrive, serve, train

# In the order `loraplane --help` lists them.
GROUPS = (local, adapters, models, dev, serve, reconcile, redrive, doctor, project, train, pipeline, demo)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loraplane", description="LoRA Plane: many LoRA adapters on one SageMaker endpoint.")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
