"""Property tests: arbitrary input gives a result or a clear UsageError, never another exception."""

import json

from hypothesis import given, settings, strategies as st

from artengine.config import apply_set, parse_size, resolve
from artengine.errors import UsageError
from artengine.discovery import PluginHost
from artengine.prompts import parse_prompt
from tests import plugins_for_tests

REGISTRY = PluginHost(entry_points=False)
REGISTRY.add(plugins_for_tests, name="test-plugins")

prompt_text = st.text(alphabet=st.sampled_from("ab :|-.1e0\t\n\u00e9#"), max_size=30) | st.text(max_size=30)


@given(prompt_text)
def test_prompt_parser_parses_or_says_why(text):
    try:
        prompt = parse_prompt(text)
    except UsageError as error:
        assert str(error)
        return
    assert prompt.parts and any(p.weight > 0 for p in prompt.parts)
    assert all(p.text and p.text == p.text.strip() and p.weight != 0 for p in prompt.parts)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
config_keys = st.sampled_from(["prompt", "prompts", "n", "keep", "seed", "size", "device", "generator", "scorer",
                               "losses", "out", "prompts_file", "bogus"])


@settings(max_examples=300)
@given(st.dictionaries(config_keys, json_values, max_size=6))
def test_config_resolver_resolves_or_says_why(raw):
    try:
        resolve(raw, REGISTRY.registry)
    except UsageError as error:
        assert str(error)


@given(st.text(max_size=20), st.text(max_size=20))
def test_set_assignments_apply_or_say_why(key, value):
    raw = {"generator": "solid"}
    try:
        apply_set(raw, f"{key}={value}")
    except UsageError:
        return


@given(st.text(max_size=15))
def test_sizes_parse_or_say_why(text):
    try:
        width, height = parse_size(text)
    except UsageError:
        return
    assert 1 <= width <= 8192 and 1 <= height <= 8192


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.binary(max_size=64), json_values.map(json.dumps), st.text(max_size=40)))
def test_png_metadata_reader_reads_or_says_why(tmp_path_factory, payload):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from artengine.jobs import raw_from_metadata
    from artengine.files import read_png_metadata

    path = tmp_path_factory.mktemp("png") / "x.png"
    if isinstance(payload, bytes):
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + payload)
    else:
        info = PngInfo()
        info.add_itxt("artengine", payload)
        Image.new("RGB", (2, 2)).save(path, pnginfo=info)
    try:
        record = read_png_metadata(path)
        resolve(raw_from_metadata(record, path), REGISTRY.registry)
    except UsageError as error:
        assert str(error)


toml_text = st.text(alphabet=st.sampled_from('abnpt =[]{}"\'\n.,:#0123456789-_'), max_size=60) | st.text(max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.one_of(toml_text, st.binary(max_size=40)))
def test_config_files_read_and_resolve_or_say_why(tmp_path_factory, content):
    from artengine.config import read_config_file

    path = tmp_path_factory.mktemp("toml") / "run.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    try:
        resolve({"generator": "solid"} | read_config_file(path), REGISTRY.registry)
    except UsageError as error:
        assert str(error)
