"""Copies pipelines/adapter-training.pipeline.json into template.yaml (CloudFormation cannot read
a local file, and `sam package` does not upload pipeline definitions): the line after
`PipelineDefinitionBody: !Sub |-` becomes the definition, compacted. Only that line changes.

Run by `make pipeline` after build_pipeline.py; tests/template/test_pipeline.py fails when the two differ.
"""
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFINITION = REPO / "pipelines" / "adapter-training.pipeline.json"
MARKER = "PipelineDefinitionBody: !Sub |-"


def compact(definition_text: str) -> str:
    return json.dumps(json.loads(definition_text), separators=(",", ":"), sort_keys=True)


def embed(template_text: str, definition_text: str) -> str:
    lines = template_text.split("\n")
    [at] = [i for i, line in enumerate(lines) if line.strip() == MARKER]
    indent = " " * (len(lines[at]) - len(lines[at].lstrip()) + 2)
    lines[at + 1] = indent + compact(definition_text)
    return "\n".join(lines)


if __name__ == "__main__":
    template = REPO / "template.yaml"
    text = template.read_text()
    updated = embed(text, DEFINITION.read_text())
    if updated != text:
        template.write_text(updated)
    print("template.yaml " + ("updated" if updated != text else "already up to date"), file=sys.stderr)
