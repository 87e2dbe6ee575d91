"""`loraplane adapters list`: every adapter with its versions, states and rejection reasons."""
import json
from collections import defaultdict

from loraplane_core import catalog, catalog_keys
from loraplane_core.deployment.serving_modes import invoke_args

COLUMNS = ("ADAPTER", "VERSION", "STATE", "APPROVAL", "SHA256", "RANK", "DETAIL")


def adapter_state(entry: dict) -> str:
    states = [v["state"] for v in entry["versions"]]
    for state in ("live", "registered", "failed", "retired", "incompatible", "rejected"):
        if state in states:
            return state
    return "rejected" if entry["rejections"] else ("failed" if entry["failures"] else "unknown")


def collect(table, sagemaker, endpoint_name: str | None = None, serving_mode: str = "inference-components") -> list[dict]:
    by_adapter: dict[str, dict] = defaultdict(lambda: {"versions": [], "rejections": [], "failures": []})
    for item in catalog.all_items(table):
        if not catalog_keys.is_adapter_item(item):
            continue  # decisions, the endpoint lock and the deployed base share the table
        entry, kind = by_adapter[item["adapter_name"]], catalog_keys.kind_of(item)
        if kind == "version":
            approval = item.get("approval_status")
            try:  # the registry is the source of truth for approval decisions
                approval = sagemaker.describe_model_package(ModelPackageName=item["package_arn"])["ModelApprovalStatus"]
            except Exception:  # noqa: BLE001 - show the catalog's copy if the registry is unreachable
                pass
            entry["versions"].append({
                "version": int(item["package_version"]), "state": item["state"], "approval_status": approval,
                "package_arn": item["package_arn"], "sha256": item["sha256"], "rank": int(item["rank"]),
                "base_model": item.get("base_model"), "target_modules": list(item.get("target_modules", [])),
                "source": item.get("source"), "recorded_at": item.get("recorded_at"),
                "reason": item.get("reason"), "state_changed_at": item.get("state_changed_at"),
            })
        elif kind == "rejection":
            entry["rejections"].append({"state": "rejected", "reason": item["reason"], "message": item["message"],
                                        "source": item.get("source"), "recorded_at": item.get("recorded_at")})
        else:
            entry["failures"].append({"state": "failed", "reason": item.get("reason"), "message": item.get("message"),
                                      "recorded_at": item.get("recorded_at")})
    adapters = []
    for name in sorted(by_adapter):
        entry = by_adapter[name]
        entry["versions"].sort(key=lambda v: v["version"])
        live = [v for v in entry["versions"] if v["state"] == "live"]
        adapter = {"name": name, "state": adapter_state(entry), **entry}
        if live and endpoint_name:
            adapter["invoke"] = invoke_args(serving_mode, endpoint_name, name)
        adapters.append(adapter)
    return adapters


def rows(adapters: list[dict]) -> list[tuple]:
    out = []
    for a in adapters:
        for v in a["versions"]:
            detail = v["source"] or ""
            if v.get("reason") and v["state"] in ("retired", "incompatible", "rejected", "failed"):
                detail = v["reason"]
            out.append((a["name"], str(v["version"]), v["state"], v["approval_status"] or "", v["sha256"][:12],
                        str(v["rank"]), detail))
        for r in a["rejections"]:
            out.append((a["name"], "-", "rejected", "", "", "", f"{r['reason']}: {r['message']}"))
        for f in a["failures"]:
            out.append((a["name"], "-", "failed", "", "", "", f"{f['reason']}: {f['message'][:120]}"))
    return out


def render(adapters: list[dict], as_json: bool) -> str:
    if as_json:
        return json.dumps({"adapters": adapters}, indent=2, default=str)
    table = rows(adapters)
    if not table:
        return "No adapters yet. Upload one under s3://<AdapterBucketName>/adapters/<name>/"
    widths = [max(len(r[i]) for r in [COLUMNS, *table]) for i in range(len(COLUMNS) - 1)]
    lines = []
    for r in [COLUMNS, *table]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1])
    return "\n".join(lines)
