"""The container against SageMaker's adapter contract as the public sources state it
(docs/emulator.md, "SageMaker adapter contract"): POST /adapters from a JSON body or the query
string, pin implies preload, preload=false validates without loading, X-Amzn-SageMaker-Adapter-Alias
names the adapter in answers, X-Amzn-SageMaker-Adapter-Identifier picks it for inference."""
import os
from urllib.parse import urlencode

from loraplane_serving.shapes import ADAPTER_HEADER, ALIAS_HEADER

from .serving_asgi import Client
from .test_serving_middleware import library, run, served  # noqa: F401 - fixtures


def register(c: Client, query: dict, headers=None):
    return c.request("POST", "/adapters", query=urlencode(query).encode(), headers=headers)


def test_registration_from_the_query_string_as_sagemaker_sends_it(served, library):  # noqa: F811
    c = Client()
    src = os.path.join(library.root, "a")

    async def scenario():
        registered = await register(c, {"name": "ic-a-1", "src": src}, {ALIAS_HEADER: "ic-a-1"})
        invoked = await c.request("POST", "/invocations", {"prompt": "Hi", "max_tokens": 1},
                                  headers={ADAPTER_HEADER: "ic-a-1", ALIAS_HEADER: "ic-a-1"})
        return registered, invoked

    registered, invoked = run(scenario)
    assert registered.status == 200, registered.body
    assert registered.json()["status"] == "Adapter ic-a-1 registered"
    assert registered.json()["preloaded"] is True  # preload defaults to true
    assert "ic-a-1" in c.app.state.openai_serving_models.lora_requests
    assert invoked.status == 200 and c.app.seen[-1][2]["model"] == "ic-a-1"


def test_pin_implies_preload_and_preload_false_only_validates(served, library):  # noqa: F811
    c = Client()
    src = os.path.join(library.root, "a")
    engine = c.app.state.openai_serving_models.lora_requests

    async def scenario():
        lazy = await register(c, {"name": "lazy", "src": src, "preload": "false"})
        pinned = await register(c, {"name": "pinned", "src": src, "preload": "False", "pin": "true"})
        json_body = await c.request("POST", "/adapters", {"name": "body", "src": src, "preload": False})
        return lazy, pinned, json_body

    lazy, pinned, json_body = run(scenario)
    assert [a.status for a in (lazy, pinned, json_body)] == [200] * 3
    assert lazy.json()["preloaded"] is False and "lazy" not in engine
    assert "lazy" in served.cache.resident()  # fetched and validated all the same
    assert pinned.json()["preloaded"] is True and "pinned" in engine and "pinned" in served.cache.pinned
    assert json_body.json()["preloaded"] is False and "body" not in engine


def test_query_registration_refusals(served, library, tmp_path):  # noqa: F811
    c = Client()
    src = os.path.join(library.root, "a")
    (tmp_path / "empty" / "x").mkdir(parents=True)

    async def scenario():
        return [await register(c, {"name": "x", "src": src, "pin": "yes please"}),
                await register(c, {"name": "x"}),
                await register(c, {"name": "x", "src": ""}),
                await register(c, {"name": "x", "src": str(tmp_path / "empty" / "x")}, {ALIAS_HEADER: "my-ic"})]

    bad_pin, no_src, empty_src, no_adapter = run(scenario)
    assert [a.status for a in (bad_pin, no_src, empty_src)] == [400] * 3
    assert "'pin'" in bad_pin.json()["error"]["message"]
    assert no_adapter.status == 404 and "'my-ic'" in no_adapter.json()["error"]["message"]
    assert not served.cache.sources and not served.cache.pinned


def test_alias_names_the_adapter_in_answers(served, library):  # noqa: F811
    c = Client()

    async def scenario():
        unknown = await c.request("POST", "/invocations", {"prompt": "Hi"},
                                  headers={ADAPTER_HEADER: "ic-0f3a", ALIAS_HEADER: "support-bot"})
        deleted = await c.request("DELETE", "/adapters/ic-0f3a", headers={ALIAS_HEADER: "support-bot"})
        return unknown, deleted

    unknown, deleted = run(scenario)
    assert unknown.status == 404 and unknown.json()["error"]["message"] == "adapter 'support-bot' not found"
    assert deleted.status == 404 and "'support-bot'" in deleted.json()["error"]["message"]


def test_identifier_header_wins_over_the_body(served, library):  # noqa: F811
    """model-hosting-container-standards' inject_adapter_id replaces `model` with the header's value."""
    c = Client()
    src = os.path.join(library.root, "a")

    async def scenario():
        await c.request("POST", "/adapters", {"name": "ic-a", "src": src})
        return await c.request("POST", "/invocations", {"prompt": "Hi", "model": "b"}, headers={ADAPTER_HEADER: "ic-a"})

    answer = run(scenario)
    assert answer.status == 200 and c.app.seen[-1][2]["model"] == "ic-a"
