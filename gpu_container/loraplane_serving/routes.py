"""Which of the server's routes a client may call, and which go through the adapter check.

- Model routes (inference, tokenize, pooling, ...): anyone the server listens to; each one goes
  through the adapter check (name, fetch, validation, live manifest) before vLLM sees it.
- Admin routes (POST /adapters, DELETE /adapters/{name}, vLLM's operator routes such as
  /start_profile or /scale_elastic_ep, and any other POST, PUT, PATCH or DELETE): loopback clients
  only, unless remote admin is on (`--allow-remote-admin`; `serve --sagemaker` turns it on, as
  SageMaker's platform calls POST /adapters from outside the container). Such a POST that names a
  model goes through the adapter check too.
- vLLM's own /v1/load_lora_adapter and /v1/unload_lora_adapter: never; they would load an adapter
  from any path without validation. POST /adapters does that job.
"""
import ipaddress
from typing import Literal

Kind = Literal["model", "admin", "adapters", "engine_lora", "public"]

ENGINE_LORA = ("/v1/load_lora_adapter", "/v1/unload_lora_adapter")
MODEL_PREFIXES = ("/v1/", "/v2/")  # OpenAI-style routes (completions, chat, responses, rerank, ...)
MODEL_PATHS = ("/invocations", "/tokenize", "/detokenize", "/pooling", "/classify", "/score", "/rerank",
               "/generative_scoring", "/inference/v1/generate")
HEALTH = ("/ping", "/health")  # SageMaker also pings with POST


def kind(method: str, path: str) -> Kind:
    if path in ENGINE_LORA:
        return "engine_lora"
    if (method == "POST" and path == "/adapters") or (method == "DELETE" and path.startswith("/adapters/")):
        return "adapters"
    if method in ("GET", "HEAD", "OPTIONS") or path in HEALTH:
        return "public"
    if method == "POST" and (path in MODEL_PATHS or path.startswith(MODEL_PREFIXES)):
        return "model"
    return "admin"


def names_a_model(method: str, path: str) -> bool:
    """POSTs whose body may name a model: all but health checks, adapter registration and vLLM's LoRA routes."""
    return method == "POST" and kind(method, path) in ("model", "admin")


def from_loopback(scope) -> bool:
    """Whether the client's address is a loopback one (127.0.0.0/8, ::1, ::ffff:127.x.x.x)."""
    client = scope.get("client")
    try:
        address = ipaddress.ip_address(client[0])
    except (TypeError, ValueError, IndexError):
        return False  # no address (a Unix socket, a test without one): not trusted
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)
