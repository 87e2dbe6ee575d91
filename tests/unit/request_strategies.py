"""Hypothesis strategies for serving requests: TGI and OpenAI bodies with values of every JSON type,
hostile numbers, deep nesting, damaged bytes, and adapter headers (names valid, invalid and raw)."""
import json

from hypothesis import strategies as st

from loraplane_serving.shapes import ADAPTER_HEADER, CUSTOM_ATTRIBUTES_HEADER

NUMBERS = st.one_of(st.integers(), st.integers(min_value=-2**80, max_value=2**80),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1, -1, 2**31, 2**64, 0.5]))
TRICKY_TEXT = st.text(alphabet='[]{}"\\:, a\n', max_size=20)  # what JSON scanning can trip on
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20), TRICKY_TEXT)
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4)
                      | st.dictionaries(st.text(max_size=8) | TRICKY_TEXT, kids, max_size=4), max_leaves=12)
NAMES = st.one_of(st.sampled_from(["a", "b", "base", "", "bot-1\n", "A" * 64, "a" * 31, "../etc", "ok-Name-1"]),
                  st.from_regex(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}", fullmatch=True), st.text(max_size=80))
TGI_KEYS = ["adapter_id", "max_new_tokens", "do_sample", "temperature", "top_p", "top_k", "repetition_penalty",
            "seed", "stop", "return_full_text", "details", "truncate"]
TGI_PARAMETERS = st.dictionaries(st.sampled_from(TGI_KEYS), st.one_of(VALUES, NAMES), max_size=6)
TGI_BODIES = st.fixed_dictionaries({"inputs": st.one_of(st.text(max_size=30), VALUES)},
                                   optional={"parameters": st.one_of(TGI_PARAMETERS, VALUES), "stream": VALUES})
OPENAI_BODIES = st.fixed_dictionaries({}, optional={
    "model": st.one_of(NAMES, VALUES), "prompt": st.one_of(st.text(max_size=30), VALUES),
    "messages": VALUES, "max_tokens": VALUES, "temperature": VALUES, "stream": VALUES, "seed": VALUES})
NUMBER_TEXT = st.one_of(st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" + "0" * 5000,
                                         "-" + "9" * 30, "1.5e-400", "0" * 400, "1e99999999999"]),
                        st.from_regex(r"-?[0-9]{1,60}(\.[0-9]{1,40})?([eE][-+]?[0-9]{1,6})?", fullmatch=True))


def encoded(body) -> bytes:
    return json.dumps(body, allow_nan=True).encode()


@st.composite
def raw_bodies(draw) -> bytes:
    """Bodies as bytes: shaped ones, shaped ones with a hostile number spliced in, deep nesting,
    truncation, bytes flipped, or anything at all."""
    kind = draw(st.sampled_from(["tgi", "openai", "number", "nesting", "cut", "flip", "bytes"]))
    shaped = encoded(draw(TGI_BODIES if draw(st.booleans()) else OPENAI_BODIES))
    if kind in ("tgi", "openai"):
        return shaped
    if kind == "number":
        key = draw(st.sampled_from(["max_new_tokens", "temperature", "top_k", "seed", "top_p"]))
        return b'{"inputs": "Hi", "parameters": {"%s": %s}}' % (key.encode(), draw(NUMBER_TEXT).encode())
    if kind == "nesting":
        depth = draw(st.sampled_from([63, 64, 65, 1000, 100_000]))
        opener = draw(st.sampled_from([b"[", b'{"a":']))
        closer = b"]" if opener == b"[" else b"}"
        return b'{"inputs": "Hi", "x": ' + opener * depth + b"1" + closer * depth + b"}"
    if kind == "cut":
        return shaped[:draw(st.integers(0, len(shaped)))]
    if kind == "flip":
        at = draw(st.integers(0, len(shaped) - 1))
        return shaped[:at] + bytes([draw(st.integers(0, 255))]) + shaped[at + 1:]
    return draw(st.binary(max_size=200))


HEADERS = st.fixed_dictionaries({}, optional={
    ADAPTER_HEADER: st.one_of(NAMES, st.text(alphabet=st.characters(max_codepoint=255), max_size=300)),
    CUSTOM_ATTRIBUTES_HEADER: st.one_of(NAMES.map(lambda n: f"adapter={n}"), st.text(max_size=60))})
RAW_HEADERS = st.fixed_dictionaries({}, optional={ADAPTER_HEADER: st.binary(max_size=80),
                                                  CUSTOM_ATTRIBUTES_HEADER: st.binary(max_size=80)})

# Bodies that pass the container's own checks, so the engine's validation is what gets exercised:
# a real prompt, one to three of its options with values of any type.
OPENAI_OPTIONS = ["max_tokens", "temperature", "top_p", "top_k", "n", "stop", "seed", "logprobs", "echo",
                  "presence_penalty", "frequency_penalty", "repetition_penalty", "logit_bias", "min_tokens",
                  "stream", "stream_options", "user", "suffix", "response_format", "prompt_logprobs",
                  "skip_special_tokens", "ignore_eos", "truncate_prompt_tokens", "best_of", "stop_token_ids"]
SMALL = st.one_of(VALUES, st.integers(-3, 300), st.floats(-3, 3), st.sampled_from([-1, 0, 1, 2**31, 2**63, 10**19]))
ENGINE_BODIES = st.fixed_dictionaries(
    {"prompt": st.one_of(st.just("Hi"), st.lists(st.integers(-5, 600), max_size=6), st.text(max_size=20)),
     "max_tokens": st.integers(1, 8)},
    optional={"model": st.sampled_from(["bot-1", "tiny-llama"])}).flatmap(
    lambda body: st.dictionaries(st.sampled_from(OPENAI_OPTIONS), SMALL, min_size=1, max_size=3).map(
        lambda extra: {**body, **extra}))
