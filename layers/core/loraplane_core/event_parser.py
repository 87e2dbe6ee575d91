"""`@event_parser(model=...)`: a handler gets its event validated into its pydantic model, as with
Powertools' parser decorator (a str event is parsed as JSON, anything else validated as is; an event
that does not fit raises pydantic's ValidationError, the errorType the state machines see).

Not Powertools' own: importing aws_lambda_powertools.utilities.parser adds ~70 ms to every cold
start (pydantic's networks, importlib.metadata, its LRU cache, ...), docs/benchmarks.md. The model's
validator is built on the first event, not at import (the payload models are `defer_build`)."""
import functools
import json

from pydantic import TypeAdapter


def event_parser(*, model):
    def decorate(handler):
        adapters: list[TypeAdapter] = []  # built on first use, then reused by the warm function

        @functools.wraps(handler)
        def wrapper(event, context, **kwargs):
            if not adapters:
                adapters.append(TypeAdapter(model))
            return handler(parse(adapters[0], event), context, **kwargs)
        return wrapper
    return decorate


def parse(adapter: TypeAdapter, event):
    if isinstance(event, str):
        try:
            return adapter.validate_json(event)
        except NotImplementedError:  # a type pydantic validates from Python only (as Powertools falls back)
            event = json.loads(event)
    return adapter.validate_python(event)
