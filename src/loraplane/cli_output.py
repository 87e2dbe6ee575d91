"""How a command without a renderer of its own prints its result: `--output json` as JSON alone on stdout,
`table` as aligned `key  value` lines, `text` as the one value people want (an ARN, a path)."""
import json


def render(result, output: str, text: str | None = None) -> str:
    if output == "json":
        return json.dumps(result, indent=2, default=str)
    if output == "text" and text is not None:
        return text
    if not isinstance(result, dict):
        return str(result)
    width = max((len(str(k)) for k in result), default=0)
    return "\n".join(f"{str(k).ljust(width)}  {cell(v)}" for k, v in result.items())


def cell(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value) or "-"
    return "-" if value is None or value == "" else str(value)
