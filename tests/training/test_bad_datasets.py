"""Datasets that cannot be trained on fail before any model is loaded, naming the line."""
import pytest

from loraplane_training.dataset import DatasetError, read_jsonl
from loraplane_training.sft import TrainOptions, train

GOOD = '{"prompt": "Hi", "completion": " Hello"}\n'
CASES = {
    "not JSON": (GOOD + "prompt: Hi, completion: Hello\n", r"line 2: not valid JSON"),
    "not an object": (GOOD + '["Hi", "Hello"]\n', r"line 2: expected a JSON object, got list"),
    "missing field": (GOOD + GOOD + '{"prompt": "Hi"}\n', r"line 3: missing field 'completion'"),
    "wrong type": ('{"prompt": 42, "completion": "x"}\n', r"line 1: field 'prompt' must be a string, got int"),
    "empty field": (GOOD + '{"prompt": "Hi", "completion": "  "}\n', r"line 2: field 'completion' is empty"),
    "empty file": ("", r"no examples"),
    "blank lines only": ("\n\n", r"no examples"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_dataset_is_refused_with_the_line(tmp_path, case):
    text, message = CASES[case]
    path = tmp_path / "data.jsonl"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message) as e:
        read_jsonl(str(path))
    assert str(path) in str(e.value)


def test_training_fails_fast_on_a_bad_dataset(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(GOOD + "{oops\n")
    # No base model at all: the dataset is checked first, so the error is about the dataset.
    with pytest.raises(DatasetError, match="line 2"):
        train(TrainOptions(base_dir=str(tmp_path / "no-such-model"), data=str(path), out_dir=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


def test_prompt_longer_than_max_length_is_refused(tiny_base_dir, tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"prompt": "' + "word " * 100 + '", "completion": " ok"}\n')
    with pytest.raises(DatasetError, match="example 1: the prompt alone fills --max-length 16"):
        train(TrainOptions(base_dir=tiny_base_dir, data=str(path), out_dir=str(tmp_path / "out"), max_length=16))


def test_cli_reports_the_bad_line_and_exits_2(tmp_path, capsys):
    from loraplane.cli import main

    path = tmp_path / "data.jsonl"
    path.write_text(GOOD + '{"prompt": "Hi", "answer": "Hello"}\n')
    rc = main(["train", "--base-model-dir", str(tmp_path), "--data", str(path), "--output-dir", str(tmp_path / "out")])
    assert rc == 2 and "line 2: missing field 'completion'" in capsys.readouterr().err
