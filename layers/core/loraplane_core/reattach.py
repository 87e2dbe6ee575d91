"""After a base model goes live: serve, for every adapter, its live version if it was built for
the new base model, else its most recently approved version that was; versions built for another
base model are marked incompatible, and adapters with no compatible version stop being served."""
from . import deployments
from .adapter_serving import serving_mode
from .aws import AwsClients
from .settings import Settings


def reattach(c: AwsClients, s: Settings, base_model: str) -> dict:
    mode, table = serving_mode(c, s), c.catalog
    served = mode.live()
    result = {"attached": [], "incompatible": [], "retired": []}
    for adapter in deployments.adapter_names(table):
        items = deployments.versions(table, adapter)
        if not items:
            continue
        live = next((v for v in items if v.get("state") == "live"), None)
        target = live if live and live.get("base_model") == base_model else \
            deployments.previous_approved(table, c.sagemaker, adapter, base_model, excluding="")
        for v in items:
            if v.get("base_model") != base_model and v.get("state") in ("live", "registered", "retired"):
                deployments.set_state(table, v, "incompatible", reason=f"built for {v.get('base_model')}, "
                                                                     f"the endpoint serves {base_model}")
                result["incompatible"].append(f"{adapter} v{v['package_version']}")
        if target is None:
            if adapter in served:
                mode.remove(adapter)
                result["retired"].append(adapter)
            continue
        t = deployments.as_target(target)
        if served.get(adapter) != t["sha256"]:
            mode.apply(adapter, t["artifact_uri"], deployments.manifest_entry(t))
        if target.get("state") != "live":
            deployments.set_state(table, target, "live", approved_at=deployments.approval_time(table, target))
        result["attached"].append(f"{adapter} v{t['version']}")
    return result
