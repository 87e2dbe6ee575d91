"""The `loraplane` command line follows one set of conventions (aws/sam CLI style, docs/operations.md "Command-line
conventions"), checked over the whole parser tree so that a new command or option cannot drift: one flag name per
idea, --stack-name wherever a stack is read, --output json|table (or text) wherever a result is printed, defaults
shown in --help, bounded numbers, and the old spellings of renamed options still working, hidden, with a hint."""
import argparse
import contextlib
import io
import json
import re

import pytest
from hypothesis import given, settings, strategies as st

from loraplane.cli import main, parser
from loraplane.cli_errors import USAGE, explain
from loraplane.cli_options import CONTRACT_SPELLINGS, STACK_HELP, Renamed
from loraplane.cli_parsers import Defaults, json_body, number, whole

# Commands that read no stack: offline tools, the local emulator (whose stack has a fixed name), the org stack.
OFFLINE = {"local up", "local down", "local env", "dev tiny-model", "dev tiny-adapter", "serve", "train", "demo",
           "adapters validate", "project publish", "completion"}
# Commands that print no result to choose a format for: a server, shell lines to eval, a script, a walkthrough.
NO_RESULT = {"local up", "local down", "local env", "serve", "demo", "completion"}


def leaves(p: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path), p
        return
    for name, sub in subs[0].choices.items():
        yield from leaves(sub, (*path, name))


COMMANDS = dict(leaves(parser()))


def visible_options(p: argparse.ArgumentParser):
    return [a for a in p._actions if a.option_strings and a.help != argparse.SUPPRESS
            and not isinstance(a, argparse._HelpAction)]


def long_name(action: argparse.Action) -> str:
    return max(action.option_strings, key=len)


def test_the_tree_is_the_one_documented():
    assert {"adapters upload", "models register-base", "pipeline start", "completion", "logs"} <= set(COMMANDS)


def test_one_flag_name_per_idea_across_commands():
    """A dest is spelled the same everywhere, and a spelling means the same dest everywhere."""
    names_of, dests_of = {}, {}
    for command, p in COMMANDS.items():
        for action in visible_options(p):
            names_of.setdefault(action.dest, set()).add(long_name(action))
            dests_of.setdefault(long_name(action), set()).add(action.dest)
    assert {d: n for d, n in names_of.items() if len(n) > 1} == {}
    assert {n: d for n, d in dests_of.items() if len(d) > 1} == {}
    # The base model: a local directory, its registered name, an S3 copy; never the old spellings.
    assert {"--base-model-dir", "--base-model-name", "--base-model-uri"} <= set(dests_of)
    assert not {"--model", "--model-dir", "--base-name", "--s3-uri", "--name", "--out", "--json", "--interval",
                "--max-rank", "--max-bytes"} & set(dests_of)


def test_every_command_that_reads_a_stack_takes_stack_name():
    for command, p in COMMANDS.items():
        options = {long_name(a): a for a in visible_options(p)}
        if command in OFFLINE:
            assert "--stack-name" not in options, command
            continue
        assert "--stack-name" in options, command
        action = options["--stack-name"]
        assert action.required or action.help == STACK_HELP, command


def test_every_command_with_a_result_takes_output_json():
    for command, p in COMMANDS.items():
        options = {long_name(a): a for a in visible_options(p)}
        if command in NO_RESULT:
            assert "--output" not in options, command
            continue
        output = options.get("--output")
        assert output is not None and "json" in output.choices, command
        assert output.default in output.choices and ({"table", "text"} & set(output.choices)), command


def required(p: argparse.ArgumentParser, action: argparse.Action) -> bool:
    """Required itself, or in a required group (an option with old spellings is one, cli_options.option)."""
    return action.required or any(g.required and action in g._group_actions for g in p._mutually_exclusive_groups)


def test_every_value_option_shows_its_default_in_help():
    silent = []
    for command, p in COMMANDS.items():
        assert issubclass(p.formatter_class, Defaults), command
        formatter = p._get_formatter()
        for action in visible_options(p):
            if action.nargs == 0 or required(p, action):
                continue  # flags (on or off) and required options have no default to show
            shown = formatter._get_help_string(action) or ""
            if "(default" not in shown:
                silent.append(f"{command} {long_name(action)}: {shown!r}")
        p.format_help()  # renders (a % in a help text would fail here)
    assert silent == []


def test_numbers_are_parsed_with_bounds():
    for command, p in COMMANDS.items():
        for action in p._actions:
            assert action.type not in (int, float), f"{command} {action.option_strings}: use cli_parsers.whole/number"


# -- the old spellings ----------------------------------------------------------------------------------
RENAMED = [  # (old command line, new command line): the same namespace
    ("adapters list --json", "adapters list --output json"),
    ("adapters validate d --base b --base-name n --max-rank 8 --max-bytes 9",
     "adapters validate d --base-model-dir b --base-model-name n --max-lora-rank 8 --max-adapter-bytes 9"),
    ("adapters upload d --name bot --base b", "adapters upload d --adapter bot --base-model-dir b"),
    ("dev tiny-adapter --base b --out o --base-name n", "dev tiny-adapter --base-model-dir b --output-dir o "
                                                        "--base-model-name n"),
    ("serve --model m --base-name n", "serve --base-model-dir m --base-model-name n"),
    ("train --base b --data d --out o --base-name n", "train --base-model-dir b --data d --output-dir o "
                                                      "--base-model-name n"),
    ("models register-base --model-dir m --name n --image i", "models register-base --base-model-dir m "
                                                              "--base-model-name n --image-uri i"),
    ("models register-base --s3-uri s3://b/m/ --name n", "models register-base --base-model-uri s3://b/m/ "
                                                         "--base-model-name n"),
    ("pipeline start --name bot --data d", "pipeline start --adapter bot --data d"),
    ("logs --interval 7", "logs --poll-seconds 7"),
    ("project publish --version 2.1", "project publish --product-version 2.1"),
]


def parse(argv: str) -> tuple[dict, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        args = parser().parse_args(argv.split())
    return {k: v for k, v in vars(args).items() if k != "since"}, err.getvalue()  # since: now, to the ms


@pytest.mark.parametrize("old, new", RENAMED)
def test_old_spellings_still_work_with_a_hint(old, new):
    (was, hint), (now, quiet) = parse(old), parse(new)
    assert was == now and quiet == ""
    for line in hint.splitlines():  # one note per renamed option, none for the contract's own spellings
        assert line.startswith("note: --") and " is an older spelling of --" in line
        spelling, _, rest = line.removeprefix("note: ").partition(" is an older spelling of ")
        assert (spelling, rest.partition(";")[0]) not in CONTRACT_SPELLINGS
    noisy = [t for t in old.split() if t.startswith("--") and t not in new.split()
             and t not in {c for c, _ in CONTRACT_SPELLINGS}]
    assert len(hint.splitlines()) >= len(noisy)


@pytest.mark.parametrize("argv", [  # as CONTRACTS.md writes them
    "models register-base --model-dir m --name n", "models register-base --s3-uri s3://b/m/",
    "adapters list --json", "serve --model m", "dev tiny-adapter --base b --out o", "train --base b --data d --out o"])
def test_the_contracts_spellings_work_without_a_note(argv):
    args, hint = parse(argv)
    assert hint == "" and args


def test_old_spellings_are_hidden_and_required_still_means_required(capsys):
    for command, p in COMMANDS.items():
        for action in p._actions:
            if isinstance(action, Renamed):
                spelled = re.compile(re.escape(action.option_strings[0]) + r"(?![\w-])")
                assert action.help == argparse.SUPPRESS and not spelled.search(p.format_help()), command
    with pytest.raises(SystemExit) as e:
        parser().parse_args(["train", "--data", "d", "--output-dir", "o"])
    assert e.value.code == 2 and "--base-model-dir" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the old and the new spelling at once: one of them is a mistake
        parser().parse_args(["train", "--base", "a", "--base-model-dir", "b", "--data", "d", "--output-dir", "o"])
    assert "not allowed with" in capsys.readouterr().err


# -- user mistakes: a usage line and exit 2, before any AWS call ------------------------------------------
@pytest.mark.parametrize("argv, words", [
    ("logs --interval 0", "'0' is not a number of seconds from 1 to 300"),
    ("logs --interval -1", "'-1' is not a number of seconds"),
    ("logs --poll-seconds nan", "'nan' is not a number"),
    ("adapters validate d --base-model-dir b --max-lora-rank 0", "'0' is not a whole number of at least 1"),
    ("adapters validate d --base-model-dir b --max-rank -1", "'-1' is not a whole number"),
    ("adapters validate d --base-model-dir b --max-adapter-bytes 0", "'0' is not a whole number"),
    ("adapters validate d --base-model-dir b --max-bytes -1", "'-1' is not a whole number"),
    ("invoke bot --body {oops", "--body is not JSON"),
    ("invoke bot --body [1]", "--body is JSON but not an object"),
    ("adapters approve Bad_Name", "adapter name 'Bad_Name' must be"),
    ("adapters reject bot --version 0", "'0' is not a whole number"),
    ("status --failures -1", "'-1' is not a whole number from 0 to 100"),
    ("redrive --limit 0", "'0' is not a whole number"),
    ("local up --port 70000", "'70000' is not a whole number from 1 to 65535"),
    ("local down --timeout inf", "'inf' is not a number of seconds"),
    ("project delete --stack-name s --timeout 0", "'0' is not a number of seconds above 0"),
    ("train --base-model-dir b --data d --output-dir o --lr 0", "'0' is not a number above 0"),
    ("train --base-model-dir b --data d --output-dir o --epochs 1.5", "'1.5' is not a whole number"),
    ("pipeline start --adapter bot --data d --seed -3", "'-3' is not a whole number from 0"),
    ("serve --disk-cache lots", "'lots' is not a size"),
    ("dev tiny-adapter --base-model-dir b --output-dir o --rank 0", "'0' is not a whole number"),
    ("image build --poll-seconds 0.5", "'0.5' is not a number of seconds from 1 to 300"),
    ("completion fish", "invalid choice: 'fish'"),
])
def test_bad_values_are_usage_errors_naming_them(argv, words, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv.split())
    err = capsys.readouterr().err
    assert e.value.code == 2 and words in err and "Traceback" not in err, err


@pytest.mark.parametrize("argv, words", [
    (["invoke", "Bad_Name", "hi"], "error: adapter name 'Bad_Name' must be 1-30 characters"),
    (["invoke", "bot"], "error: no prompt."),
    (["invoke", "bot", "hi", "--body", "{}"], "error: --body replaces the prompt."),
    (["invoke", "--base", "hi", "there"], "error: --base takes the prompt alone."),
    (["models", "register-base", "--base-model-uri", "s3://b/m/"], "error: --base-model-uri needs --base-model-name"),
    (["models", "register-base", "--base-model-uri", "/local/m", "--base-model-name", "x"],
     "error: --base-model-uri '/local/m' is not an s3:// URI"),
])
def test_invocations_that_cannot_work_are_one_line_errors(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing may be called: it would fail otherwise
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(words) and err.count("\n") == 1, err


def test_a_mistyped_path_is_one_line(tmp_path, capsys):
    assert main(["models", "register-base", "--base-model-dir", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith(f"error: no config.json in {tmp_path / 'nope'}.")
    try:
        open(tmp_path / "nope.jsonl")
    except FileNotFoundError as e:
        code, text = explain(e)
    assert code == USAGE and text.startswith(f"error: No such file or directory: {tmp_path / 'nope.jsonl'}. Check")


# -- the argument types ----------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=20), st.integers(-10**6, 10**6).map(str), st.floats().map(str)))
def test_bounded_types_accept_only_their_range(text):
    for parse, low, high in ((whole(1, 300), 1, 300), (whole(0), 0, None), (number(1, 300), 1, 300),
                             (number(0, above=True), 0, None)):
        try:
            value = parse(text)
        except argparse.ArgumentTypeError as e:
            assert repr(text) in str(e)
            continue
        assert value >= low and (high is None or value <= high) and value == value  # not nan
        if parse.__name__.startswith("number") and "above" in parse.__name__:
            assert value > low


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=40), st.dictionaries(st.text(max_size=5), st.integers()).map(json.dumps)))
def test_json_body_is_an_object_or_a_named_refusal(text):
    try:
        body = json_body(text)
    except argparse.ArgumentTypeError as e:
        assert str(e).startswith("--body is")
        return
    assert isinstance(body, dict)


@pytest.mark.parametrize("argv", [
    "train --base-model-dir {d} --data {d}/data.jsonl --output-dir {d}/out",
    "dev tiny-adapter --base-model-dir {d} --output-dir {d}/out",
    "serve --base-model-dir {d}",
    "models register-base --base-model-dir {d}",
])
def test_a_folder_that_is_no_model_is_one_line_before_any_work(argv, tmp_path, capsys):
    (tmp_path / "data.jsonl").write_text('{"prompt": "Hi", "completion": " there"}\n')
    assert main(argv.format(d=tmp_path).split()) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no config.json in {tmp_path}. Pass --base-model-dir") and err.count("\n") == 1


def test_no_module_to_adapt_is_a_usage_error(tiny_base_dir, tmp_path, capsys):
    argv = ["dev", "tiny-adapter", "--base-model-dir", tiny_base_dir, "--output-dir", str(tmp_path), "--target-modules",
            ", ,"]
    assert main(argv) == 2 and "names no module" in capsys.readouterr().err
