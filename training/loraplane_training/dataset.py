"""Prompt/completion JSONL datasets: checked line by line, tokenized with loss masks."""
import json
from dataclasses import dataclass

IGNORE = -100  # label value the loss skips: prompt tokens and padding


class DatasetError(ValueError):
    """A dataset that cannot be trained on; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    prompt: str
    completion: str


def read_jsonl(path: str) -> list[Example]:
    """Every line a JSON object with non-empty string `prompt` and `completion` (blank lines skipped)."""
    examples = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = list(f)
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{where}: not valid JSON ({e.msg}); each line must be "
                               '{"prompt": "...", "completion": "..."}') from None
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(record).__name__}")
        for field in ("prompt", "completion"):
            if field not in record:
                raise DatasetError(f"{where}: missing field {field!r}")
            if not isinstance(record[field], str):
                raise DatasetError(f"{where}: field {field!r} must be a string, got {type(record[field]).__name__}")
            if not record[field].strip():
                raise DatasetError(f"{where}: field {field!r} is empty")
        examples.append(Example(record["prompt"], record["completion"]))
    if not examples:
        raise DatasetError(f"{path}: no examples (the file is empty)")
    return examples


@dataclass(frozen=True)
class Tokenized:
    input_ids: list[int]
    labels: list[int]  # IGNORE on prompt tokens: the loss is on the completion only


def tokenize(tokenizer, example: Example, max_length: int) -> Tokenized:
    """The prompt tokenized exactly as a server tokenizes a request, then the completion and EOS.

    Tokenized apart (not as one string) so the prompt's tokens are those seen at inference time."""
    prompt = tokenizer(example.prompt)["input_ids"]
    completion = tokenizer(example.completion, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        completion = completion + [tokenizer.eos_token_id]
    ids = (prompt + completion)[:max_length]
    labels = ([IGNORE] * len(prompt) + completion)[:max_length]
    return Tokenized(ids, labels)


def tokenize_all(tokenizer, examples: list[Example], max_length: int, path: str = "dataset") -> list[Tokenized]:
    out = []
    for i, example in enumerate(examples):
        t = tokenize(tokenizer, example, max_length)
        if all(label == IGNORE for label in t.labels):
            raise DatasetError(f"{path} example {i + 1}: the prompt alone fills --max-length {max_length}; "
                               "no completion token is left to learn")
        out.append(t)
    return out


def batches(items: list[Tokenized], batch_size: int, pad_id: int, order: list[int]):
    """(input_ids, labels, attention_mask) tensors, right-padded, in the given order."""
    import torch

    for start in range(0, len(order), batch_size):
        chunk = [items[i] for i in order[start:start + batch_size]]
        width = max(len(t.input_ids) for t in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, t in enumerate(chunk):
            n = len(t.input_ids)
            ids[row, :n] = torch.tensor(t.input_ids)
            labels[row, :n] = torch.tensor(t.labels)
            mask[row, :n] = 1
        yield ids, labels, mask
