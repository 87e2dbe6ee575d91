"""Drives the serving middleware in process, in front of a stand-in for vLLM's app: no engine, no
model, so middleware behaviour (routes, errors, metrics) is tested in milliseconds."""
import json
from dataclasses import dataclass, field
from types import SimpleNamespace

from loraplane_serving import runtime
from loraplane_serving.middleware import LoraPlaneMiddleware

COMPLETION = {"choices": [{"text": " ok", "finish_reason": "length"}], "usage": {"completion_tokens": 1}}


class FakeModels:
    """vLLM's `openai_serving_models`, as far as the middleware uses it."""

    def __init__(self):
        self.lora_requests: dict[str, SimpleNamespace] = {}
        self.engine_client = SimpleNamespace(remove_lora=self._noop, list_loras=self._none)

    async def resolve_lora(self, name):
        entry, _ = await runtime.get().adapter(name)
        self.lora_requests[name] = SimpleNamespace(lora_path=entry.path, lora_int_id=len(self.lora_requests) + 1)
        return self.lora_requests[name]

    async def unload_lora_adapter(self, request):
        self.lora_requests.pop(request.lora_name, None)

    @staticmethod
    async def _noop(*_):
        return True

    @staticmethod
    async def _none():
        return []


@dataclass
class FakeVllm:
    """The app behind the middleware: records what reaches it and answers like a completion."""
    seen: list[tuple[str, str, dict]] = field(default_factory=list)  # (method, path, body)
    state: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(openai_serving_models=FakeModels()))

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen.append((scope["method"], scope["path"], json.loads(raw) if raw else {}))
        body = json.dumps(COMPLETION).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    def json(self):
        return json.loads(self.body)


class Client:
    def __init__(self):
        self.app = FakeVllm()
        self.middleware = LoraPlaneMiddleware(self.app)

    async def request(self, method: str, path: str, body=None, raw: bytes | None = None,
                      headers: dict[str, str | bytes] | None = None, client: str = "127.0.0.1",
                      chunk: int | None = None, query: bytes = b"") -> Answer:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        parts = [data[i:i + chunk] for i in range(0, len(data), chunk)] if chunk and data else [data]
        sent: list[dict] = []
        header_list = [(k.lower().encode(), v if isinstance(v, bytes) else v.encode()) for k, v in (headers or {}).items()]
        scope = {"type": "http", "method": method, "path": path, "headers": header_list, "app": self.app,
                 "client": (client, 40000), "query_string": query}

        async def receive():
            if parts:
                return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await self.middleware(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        return Answer(start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
                      {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers") or []})
