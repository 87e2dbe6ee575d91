"""The catalog table's keys are spelt in one module (catalog_keys.py): no other product module builds
or parses a `pk`/`sk`, so a key family can change in one place."""
import re
from pathlib import Path

from loraplane_core import catalog_keys

REPO = Path(__file__).resolve().parents[2]
PRODUCT = [REPO / "layers" / "core" / "loraplane_core", REPO / "functions", REPO / "src" / "loraplane"]
KEY_SPELLING = re.compile(r"""["'](pk|sk)["']|\b(adapter|version|rejection|failure|endpoint|package|lock|queue|decision)#""")


def test_no_module_but_catalog_keys_spells_a_key():
    offenders = []
    for root in PRODUCT:
        for path in root.rglob("*.py"):
            if path.name == "catalog_keys.py":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if KEY_SPELLING.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "table keys spelt outside catalog_keys.py:\n" + "\n".join(offenders)


def test_key_families_do_not_collide():
    keys = [catalog_keys.version_key("a", "s"), catalog_keys.rejection_key("a", "s"), catalog_keys.failure_key("a", "s"),
            catalog_keys.base_key("a"), catalog_keys.approval_key("a"), catalog_keys.lock_key("a"),
            catalog_keys.queue_key("a", "2026-01-01T00:00:00Z", "x")]
    assert len({(k["pk"], k["sk"]) for k in keys}) == len(keys)
    assert [catalog_keys.kind_of(k) for k in keys[:3]] == ["version", "rejection", "failure"]
    assert all(catalog_keys.is_adapter_item(k) for k in keys[:3]) and not any(
        catalog_keys.is_adapter_item(k) for k in keys[3:])
