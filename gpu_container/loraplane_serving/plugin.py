"""vLLM general plugin (entry point `vllm.general_plugins`): registers our LoRA resolver, so that
a request naming an adapter vLLM has not loaded gets it from the adapter cache."""
import os


def register() -> None:
    if not os.environ.get("LORAPLANE_MODEL_DIR"):
        return  # a vLLM started without `loraplane serve`: stay out of its way
    from vllm.lora.request import LoRARequest
    from vllm.lora.resolver import LoRAResolver, LoRAResolverRegistry

    from . import runtime

    class CacheResolver(LoRAResolver):
        async def resolve_lora(self, base_model_name: str, lora_name: str) -> LoRARequest | None:
            # Through the live manifest too, so no route can reach an adapter the middleware would refuse.
            try:
                entry, _ = await runtime.get().adapter(lora_name)
            except Exception:  # noqa: BLE001 - the middleware answers 404 / 422 / 503 before vLLM gets here
                return None
            # vLLM replaces lora_int_id with its own counter.
            return LoRARequest(lora_name=lora_name, lora_int_id=1, lora_path=entry.path)

    LoRAResolverRegistry.register_resolver("LoRA Plane adapter cache", CacheResolver())
