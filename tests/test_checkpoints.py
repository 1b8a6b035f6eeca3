"""artengine.checkpoints.read_checkpoint: tensors out, never code run, clear refusals."""

import collections
import os
import pickle
import sys
import types

import pytest
import torch

from artengine import UsageError
from artengine.checkpoints import Unresolved, read_checkpoint


@pytest.fixture(autouse=True)
def untrusted(monkeypatch):
    monkeypatch.delenv("ARTENGINE_TRUST_CHECKPOINTS", raising=False)


class WritesMarker:
    """Unpickling this would create the marker file through os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class OpensMarker:
    """Unpickling this would create the marker file through the open builtin."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def absent_module():
    """A module `fake_lightning_absent.callbacks` that exists while saving and is gone for loading."""
    package = types.ModuleType("fake_lightning_absent")
    module = types.ModuleType("fake_lightning_absent.callbacks")
    package.callbacks = module

    class ModelCheckpoint:
        def __init__(self):
            self.best_model_score = torch.tensor(0.25)
            self.dirpath = "logs/checkpoints"

    class AttributeDict(dict):
        pass

    for cls in (ModelCheckpoint, AttributeDict):
        cls.__module__, cls.__qualname__ = module.__name__, cls.__name__
        setattr(module, cls.__name__, cls)
    sys.modules[package.__name__] = package
    sys.modules[module.__name__] = module
    yield module
    sys.modules.pop(module.__name__, None)
    sys.modules.pop(package.__name__, None)


def forget(module):
    del sys.modules[module.__name__]
    del sys.modules[module.__name__.split(".")[0]]


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_plain_state_dicts_load_in_both_torch_formats(tmp_path, legacy):
    weights = collections.OrderedDict(weight=torch.randn(4, 3), bias=torch.zeros(4))
    path = tmp_path / "model.pt"
    torch.save({"state_dict": weights, "epoch": 3}, path, _use_new_zipfile_serialization=not legacy)
    loaded = read_checkpoint(path)
    assert loaded["epoch"] == 3
    assert torch.equal(loaded["state_dict"]["weight"], weights["weight"])


def test_safetensors_files_load(tmp_path):
    from safetensors.torch import save_file

    save_file({"a": torch.arange(6.0)}, str(tmp_path / "w.safetensors"))
    assert torch.equal(read_checkpoint(tmp_path / "w.safetensors")["a"], torch.arange(6.0))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_lightning_objects_of_an_absent_module_become_inert_records(tmp_path, absent_module, legacy):
    checkpoint = {
        "epoch": 7,
        "global_step": 1400,
        "state_dict": collections.OrderedDict(w=torch.ones(2, 2)),
        "callbacks": {absent_module.ModelCheckpoint: absent_module.ModelCheckpoint().__dict__},
        "hyper_parameters": absent_module.AttributeDict(lr=4.5e-6),
        "monitor": absent_module.ModelCheckpoint(),
    }
    path = tmp_path / "last.ckpt"
    torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy)
    forget(absent_module)
    with pytest.raises(Exception):  # what torch.load(weights_only=True) alone does
        torch.load(path, weights_only=True)

    loaded = read_checkpoint(path)

    assert "fake_lightning_absent" not in sys.modules  # nothing was imported
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(2, 2))
    assert loaded["global_step"] == 1400
    monitor = loaded["monitor"]
    assert isinstance(monitor, Unresolved)
    assert monitor.qualified_name == "fake_lightning_absent.callbacks.ModelCheckpoint"
    assert monitor.state["dirpath"] == "logs/checkpoints"
    assert isinstance(loaded["hyper_parameters"], Unresolved)
    assert loaded["hyper_parameters"].items == {"lr": 4.5e-6}


@pytest.mark.parametrize("payload", [WritesMarker, OpensMarker])
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_malicious_torch_checkpoint_is_refused_without_running(tmp_path, payload, legacy):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": payload(marker)}, path, _use_new_zipfile_serialization=not legacy)

    with pytest.raises(UsageError) as refused:
        read_checkpoint(path)

    assert not marker.exists()
    message = str(refused.value)
    assert "evil.ckpt" in message and "can run code" in message and "ARTENGINE_TRUST_CHECKPOINTS" in message


def test_a_raw_malicious_pickle_named_like_a_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps({"weights": WritesMarker(marker)}))
    with pytest.raises(UsageError, match="model.bin"):
        read_checkpoint(path)
    assert not marker.exists()


def test_code_named_in_an_unknown_module_is_only_recorded(tmp_path):
    """A callable from a module we do not know is never resolved: calling it makes a record."""
    marker = tmp_path / "pwned"
    module = types.ModuleType("unknown_tool_module")

    def run(command):
        open(command, "w").close()

    run.__module__, run.__qualname__ = module.__name__, "run"
    module.run = run
    sys.modules[module.__name__] = module

    class CallsRun:
        def __reduce__(self):
            return (run, (str(marker),))

    path = tmp_path / "odd.pt"
    try:
        torch.save({"x": CallsRun()}, path)
    finally:
        del sys.modules[module.__name__]
    loaded = read_checkpoint(path)
    assert not marker.exists()
    assert isinstance(loaded["x"], Unresolved) and loaded["x"].args == (str(marker),)


def test_trust_loads_real_objects_of_an_importable_module(tmp_path, monkeypatch):
    (tmp_path / "harmless_checkpoint_module.py").write_text(
        "class Settings:\n    def __init__(self, lr):\n        self.lr = lr\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import harmless_checkpoint_module

    path = tmp_path / "run.ckpt"
    torch.save({"settings": harmless_checkpoint_module.Settings(0.1)}, path)

    assert isinstance(read_checkpoint(path)["settings"], Unresolved)
    assert isinstance(read_checkpoint(path, trust=True)["settings"], harmless_checkpoint_module.Settings)
    monkeypatch.setenv("ARTENGINE_TRUST_CHECKPOINTS", "1")
    assert isinstance(read_checkpoint(path)["settings"], harmless_checkpoint_module.Settings)


def write_truncated_pt(path):
    torch.save({"w": torch.randn(1000)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_truncated_safetensors(path):
    from safetensors.torch import save_file

    save_file({"w": torch.randn(1000)}, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "name, make, expected",
    [
        ("missing.ckpt", lambda path: None, "does not exist"),
        ("empty.ckpt", lambda path: path.write_bytes(b""), "is empty"),
        ("folder.ckpt", lambda path: path.mkdir(), "is a directory"),
        ("truncated.pt", write_truncated_pt, "truncated"),
        ("notes.ckpt", lambda path: path.write_text("these are not weights\n" * 20), "truncated or"),
        ("truncated.safetensors", write_truncated_safetensors, "not a readable safetensors file"),
        ("tensor.pt", lambda path: torch.save(torch.zeros(3), path), "not a dict of tensors"),
    ],
)
def test_unreadable_files_get_a_clear_message_naming_them(tmp_path, name, make, expected):
    path = tmp_path / name
    make(path)
    with pytest.raises(UsageError) as error:
        read_checkpoint(path)
    assert expected in str(error.value) and name in str(error.value)


def test_the_malicious_payload_is_real_it_runs_when_trusted(tmp_path):
    """Shows that the refusal above is what keeps the payload from running."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"x": WritesMarker(marker)}, path)
    read_checkpoint(path, trust=True)
    assert marker.exists()
