"""Server-side request validation against botocore's service model, with AWS's messages.

botocore's ParamValidator checks types, required members and minimums (what the SDK checks before
sending); AWS also refuses values over `max`, off `pattern` and outside `enum`. Both are reported
in AWS's format: "N validation error(s) detected: Value '...' at 'member' failed to satisfy
constraint: ...".
"""
import functools

import botocore.session
from botocore.validate import ParamValidator

try:
    import regex  # AWS's patterns are Java regexes (\p{ASCII}, \p{L}): the stdlib `re` cannot read them
except ImportError:  # then those patterns go unchecked
    import re as regex


@functools.lru_cache(maxsize=None)
def service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


@functools.lru_cache(maxsize=None)
def _pattern(pattern: str):
    try:
        return regex.compile(pattern)
    except regex.error:
        return None


def _aws_path(path: str, member: str = "") -> str:
    parts = [p for p in (path.strip(".") + ("." + member if member else "")).split(".") if p]
    return ".".join(p[:1].lower() + p[1:] for p in parts)


def _shown(value) -> str:
    return "null" if value is None else f"'{value}'"


def problems(service: str, operation: str, params: dict) -> list[str]:
    """What AWS would object to in `params` (empty if nothing)."""
    shape = service_model(service).operation_model(operation).input_shape
    found = []
    report = ParamValidator().validate(params, shape)
    for kind, name, details in report._errors:  # noqa: SLF001 - the report's structured form
        if kind == "missing required field":
            found.append(f"Value null at '{_aws_path(name, details['required_name'])}' failed to satisfy constraint: "
                         "Member must not be null")
        elif kind == "unknown field":
            found.append(f"Unknown parameter '{_aws_path(name, details['unknown_param'])}'")
        elif kind == "invalid length":
            found.append(f"Value at '{_aws_path(name)}' failed to satisfy constraint: Member must have length "
                         f"greater than or equal to {details['min_allowed']}")
        elif kind == "invalid range":
            found.append(f"Value '{details['param']}' at '{_aws_path(name)}' failed to satisfy constraint: "
                         f"Member must have value greater than or equal to {details['min_allowed']}")
        else:
            found.append(f"Value at '{_aws_path(name)}' failed to satisfy constraint: {kind}")
    _constraints(shape, params, "", found)
    return found


def _constraints(shape, value, path: str, found: list[str]) -> None:
    """max / pattern / enum, which botocore leaves to the service."""
    if value is None:
        return
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                _constraints(member, value[name], f"{path}.{name}", found)
    elif kind == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"Value at '{_aws_path(path)}' failed to satisfy constraint: Member must have length less "
                         f"than or equal to {meta['max']}")
        for item in value:
            _constraints(shape.member, item, path, found)
    elif kind == "map" and isinstance(value, dict):
        for item in value.values():
            _constraints(shape.value, item, path, found)
    elif kind == "string" and isinstance(value, str):
        at = f"Value {_shown(value)} at '{_aws_path(path)}' failed to satisfy constraint: "
        if "max" in meta and len(value) > meta["max"]:
            found.append(at + f"Member must have length less than or equal to {meta['max']}")
        if shape.enum and value not in shape.enum:
            found.append(at + f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        compiled = _pattern(meta["pattern"]) if "pattern" in meta else None
        if compiled is not None and not compiled.fullmatch(value):
            found.append(at + f"Member must satisfy regular expression pattern: {meta['pattern']}")
    elif kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)) and "max" in meta:
        if value > meta["max"]:
            found.append(f"Value '{value}' at '{_aws_path(path)}' failed to satisfy constraint: Member must have "
                         f"value less than or equal to {meta['max']}")
    elif kind == "blob" and isinstance(value, (bytes, bytearray)) and "max" in meta and len(value) > meta["max"]:
        found.append(f"Value at '{_aws_path(path)}' failed to satisfy constraint: Member must have length less "
                     f"than or equal to {meta['max']}")


def message(found: list[str]) -> str:
    n = len(found)
    return f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(found)
