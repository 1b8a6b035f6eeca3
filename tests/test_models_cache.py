"""load_model's cache: at most ARTENGINE_MODEL_CACHE models (default 3) stay loaded, the least
recently used let go first; a model let go of on CUDA frees its memory; a model something still
holds is never loaded a second time."""

import gc
import sys
import types

import pytest

import artengine
import artengine.models
from artengine import ModelLoader

LOADS = []
"""The names the fake loader loaded, in order."""


class Model:
    """A stand-in for a network: an object that can be referenced weakly, as modules can."""

    def __init__(self, name):
        self.name = name


class FakeLoader(ModelLoader):
    kind = "fake"
    description = "Makes a Model of any name."

    def load(self, name, device):
        LOADS.append(name)
        return Model(name)


@pytest.fixture
def fake(host, monkeypatch):
    LOADS.clear()
    module = types.ModuleType("fake")
    module.register_model_loaders = artengine.hookimpl(lambda register: register(FakeLoader()))
    host.add(module, name="fake")
    monkeypatch.delenv("ARTENGINE_MODEL_CACHE", raising=False)
    freed = []
    monkeypatch.setattr(artengine.models, "release_cuda_memory", lambda: freed.append(True))
    return freed


def load(*names, device="cpu"):
    """Load each name in turn, holding none of them (as a finished job holds nothing)."""
    for name in names:
        artengine.load_model(f"fake:{name}", device)


@pytest.mark.parametrize("size, used, loads_again", [
    ("", "abcd", {"a": True, "b": False, "c": False, "d": False}),  # default 3: a went first
    ("3", "abacd", {"a": False, "b": True, "c": False, "d": False}),  # using a again kept it
    ("1", "ab", {"a": True, "b": False}),
    ("5", "abcde", {name: False for name in "abcde"}),
])
def test_the_least_recently_used_model_goes_first(fake, monkeypatch, size, used, loads_again):
    monkeypatch.setenv("ARTENGINE_MODEL_CACHE", size)
    load(*used)
    assert LOADS == list(dict.fromkeys(used))  # each loaded once while kept
    for name, again in loads_again.items():
        LOADS.clear()
        load(name)
        assert (LOADS == [name]) == again, name
        load(*used)  # back to the order the row describes


def test_a_model_still_held_is_never_loaded_twice(fake, monkeypatch):
    monkeypatch.setenv("ARTENGINE_MODEL_CACHE", "1")
    held = artengine.load_model("fake:a")
    load("b", "c")  # `a` is let go of by the cache, but a running job still holds it
    assert artengine.load_model("fake:a") is held and LOADS == ["a", "b", "c"]
    del held
    gc.collect()
    load("b", "a")  # now no one held it: loaded afresh
    assert LOADS == ["a", "b", "c", "b", "a"]


def test_devices_are_cached_apart_and_only_a_cuda_model_let_go_of_frees_memory(fake, monkeypatch):
    monkeypatch.setenv("ARTENGINE_MODEL_CACHE", "1")
    load("a", "a", device="cpu")
    load("a", device="cuda")
    assert LOADS == ["a", "a"] and fake == []  # a CPU model went: nothing to give back to CUDA
    load("b")
    assert fake == [True]


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "99999"])
def test_a_wrong_cache_size_is_one_line(fake, monkeypatch, value):
    monkeypatch.setenv("ARTENGINE_MODEL_CACHE", value)
    with pytest.raises(artengine.UsageError, match=rf"^the environment variable ARTENGINE_MODEL_CACHE='{value}' is not a "
                       r"number of models from 1 up; unset it \(default 3\) or give one such as 2$"):
        load("a")


@pytest.mark.parametrize("initialised, emptied", [(True, True), (False, False)])
def test_memory_is_given_back_to_cuda_only_where_torch_is_in_use(monkeypatch, initialised, emptied):
    calls = []
    cuda = types.SimpleNamespace(is_initialized=lambda: initialised, empty_cache=lambda: calls.append("empty"))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    artengine.models.release_cuda_memory()
    assert calls == (["empty"] if emptied else [])


def test_without_torch_imported_nothing_is_imported_to_free_memory(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    artengine.models.release_cuda_memory()
    assert "torch" not in sys.modules
