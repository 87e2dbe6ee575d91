"""The options every `loraplane` command spells the same way (docs/operations.md, "Command-line conventions"):
--stack-name, --output, the base model's --base-model-dir / --base-model-name / --base-model-uri, and the old
spellings of renamed options, kept as hidden aliases that still work and say on stderr what replaced them.
tests/unit/test_cli_conventions.py walks the whole parser tree and holds every command to these rules."""
import argparse
import sys

from .cli_parsers import Defaults

STACK_HELP = "the stack (default: $LORAPLANE_STACK, else loraplane-local)"
BASE_MODEL_DIR_HELP = "the base model's Hugging Face directory (config.json, weights, tokenizer)"
BASE_MODEL_NAME_HELP = ("the base model id adapters name in base_model_name_or_path (default: the "
                        "--base-model-dir folder's name)")


class Parser(argparse.ArgumentParser):
    """Every command's parser (subparsers take their parent's class): defaults shown in --help."""

    def __init__(self, *args, formatter_class=Defaults, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


# The spellings the user contract (CONTRACTS.md) names: they keep working without a note on stderr.
CONTRACT_SPELLINGS = {("--model-dir", "--base-model-dir"), ("--s3-uri", "--base-model-uri"),
                      ("--name", "--base-model-name"), ("--json", "--output json"), ("--model", "--base-model-dir"),
                      ("--base", "--base-model-dir"), ("--out", "--output-dir")}


class Renamed(argparse.Action):
    """An older spelling of an option (some are in the user contract, so they stay): does what the new one
    does, with a one-line hint on stderr. Hidden from --help and from shell completion (help=SUPPRESS)."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if (option_string, self.new) not in CONTRACT_SPELLINGS:  # those are silent: scripts rely on them
            print(f"note: {option_string} is an older spelling of {self.new}; both work, the docs use {self.new}",
                  file=sys.stderr)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def option(parser, name: str, *old: str, group=None, **kwargs) -> argparse.Action:
    """parser.add_argument(name, **kwargs), and each spelling in `old` as a hidden alias of it. With aliases,
    the option and its aliases form a mutually exclusive group (`group`, or a new one, required when the option
    is): argparse counts an alias as an option of its own, so `required` holds for the group, not the option."""
    if not old:
        return (group or parser).add_argument(name, **kwargs)
    required = kwargs.pop("required", False)
    group = group or parser.add_mutually_exclusive_group(required=required)
    action = group.add_argument(name, **kwargs)
    for spelling in old:
        alias(group, spelling, action)
    return action


def alias(group, spelling: str, action: argparse.Action, value=None) -> None:
    """`spelling` as a hidden alias of `action`; with `value`, a flag that means `action`'s option with that value
    (`--json` for `--output json`)."""
    if value is not None:
        group.add_argument(spelling, dest=action.dest, action=Renamed, new=f"{action.option_strings[0]} {value}",
                           nargs=0, const=value, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return
    flag = action.nargs == 0  # store_true and the like
    group.add_argument(spelling, dest=action.dest, action=Renamed, new=action.option_strings[0],
                       nargs=0 if flag else action.nargs, const=action.const, type=None if flag else action.type,
                       choices=None if flag else action.choices, metavar=action.metavar, default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)


def stack_name(parser, required: bool = False) -> argparse.Action:
    if required:
        return parser.add_argument("--stack-name", required=True, help="the stack (no default: name it)")
    return parser.add_argument("--stack-name", help=STACK_HELP)


def output(parser, *choices: str, help: str | None = None) -> argparse.Action:
    """--output FORMAT, the first choice the default: `table` (or `text`) for people, `json` for programs.
    JSON goes alone to stdout; progress and hints go to stderr."""
    choices = choices or ("table", "json")
    human = next(c for c in choices if c != "json")
    return parser.add_argument("--output", choices=choices, default=choices[0],
                               help=help or f"{human}: for people; json: for programs")
