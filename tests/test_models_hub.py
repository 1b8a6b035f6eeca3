"""Published models through the `hub` plugin against a fake Hub on 127.0.0.1: fetched on first
use, verified before anything reads them, resumed, cached, listed and deleted; offline, a
cached model loads with no network call and an uncached one is one line."""

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest

import artengine

pytest_plugins = ("tests.fake_hub",)

WEIGHTS = os.urandom(300_000)
CONFIG = json.dumps({"layers": 2}).encode()
PLAIN = os.urandom(50_000)
TOY = {}


class ToyLoader(artengine.ModelLoader):
    """A loader whose published models are whatever TOY holds; loading one reads its folder."""

    kind = "toy"
    description = "toy models for the hub tests"
    published = TOY

    def load(self, name, device):
        folder = artengine.load_model(f"hub:toy:{name}")
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class ToyPlugin:
    @artengine.hookimpl
    def register_model_loaders(self, register):
        register(ToyLoader())


@pytest.fixture
def toy(host, fake_hub, monkeypatch):
    import artengine.plugins.hub

    host.add(artengine.plugins.hub, name="hub")
    host.add(ToyPlugin(), name="toy")
    fake_hub.add_repo("org/toy", {"weights.bin": WEIGHTS, "config.json": CONFIG, "README.md": b"not wanted"})
    fake_hub.add_repo("org/other", {"shared.bin": WEIGHTS})
    plain = fake_hub.add_url("plain.ckpt", PLAIN)
    monkeypatch.setitem(TOY, "a", {"parts": [{"repo": "org/toy", "files": ["*.bin", "*.json"]}]})
    monkeypatch.setitem(TOY, "b", {"parts": [{"repo": "org/toy", "files": {"w/renamed.bin": "weights.bin"}},
                                             {"urls": {"plain.ckpt": plain}}]})
    return fake_hub


def hf_home() -> Path:
    return Path(os.environ["HF_HOME"])


def leftovers() -> list[str]:
    """Every file under HF_HOME but lock files: what a later run could find."""
    return sorted(p.relative_to(hf_home()).as_posix() for p in hf_home().rglob("*")
                  if (p.is_file() or p.is_symlink()) and not p.name.endswith(".lock"))


def load(spec):
    artengine.models.clear_cache()
    return artengine.load_model(spec)


def test_first_use_fetches_verifies_and_lays_out_the_files_in_the_hubs_cache(toy):
    assert load("toy:a") == {"config.json": CONFIG, "weights.bin": WEIGHTS}
    blob = hf_home() / "hub/models--org--toy/blobs" / hashlib.sha256(WEIGHTS).hexdigest()
    assert blob.read_bytes() == WEIGHTS  # huggingface_hub's own layout: its tools find the file
    from huggingface_hub import try_to_load_from_cache

    assert Path(try_to_load_from_cache("org/toy", "weights.bin", cache_dir=hf_home() / "hub")).read_bytes() == WEIGHTS
    assert load("toy:b") == {"plain.ckpt": PLAIN, "w/renamed.bin": WEIGHTS}
    assert [path for path, _ in toy.downloads()].count("/org/toy/resolve/" + toy.repos["org/toy"]["commit"]
                                                       + "/weights.bin") == 1  # shared, fetched once


def test_a_cached_model_loads_with_no_network_call_at_all(toy, monkeypatch, no_internet):
    load("toy:a")
    asked = len(toy.requests)
    monkeypatch.setenv("HF_ENDPOINT", "https://huggingface.co")  # anything asked now would leave the machine
    assert load("toy:a")["weights.bin"] == WEIGHTS
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert load("toy:a")["weights.bin"] == WEIGHTS
    assert no_internet == [] and len(toy.requests) == asked


@pytest.mark.parametrize("how, expected", [
    ("offline", "not downloaded and HF_HUB_OFFLINE is set; run `artengine models pull toy:a`"),
    ("no network", "not downloaded and https://huggingface.co cannot be reached"),
])
def test_an_uncached_model_offline_is_one_line_saying_how_to_fetch_it(toy, cli, monkeypatch, no_internet, how,
                                                                      expected):
    monkeypatch.setenv("HF_ENDPOINT", "https://huggingface.co")
    if how == "offline":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = cli("models", "pull", "toy:a")
    assert result.exit_code == 2 and expected in result.output and len(result.output.strip().splitlines()) == 1
    assert (no_internet == []) == (how == "offline")
    assert toy.requests == []


@pytest.mark.parametrize("fault, expected", [
    ("corrupt", "does not match the sha256 its source publishes"),
    ("short", "sent a different number of bytes than its source says"),
    ("missing", "answered 404"),
    ("disk full", "the disk filled while downloading"),
    ("no room", "needs 300,000 bytes"),
])
def test_a_bad_download_leaves_nothing_a_later_run_would_read(toy, cli, monkeypatch, fault, expected):
    import artengine.plugins.hub.fetch as fetch

    if fault in ("corrupt", "short", "missing"):
        getattr(toy, fault).add("weights.bin")
    elif fault == "disk full":
        monkeypatch.setattr(fetch, "open_partial", lambda path: FullDisk(path, room=100_000))
    else:
        monkeypatch.setattr(fetch.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 1000})())
    result = cli("models", "pull", "toy:a")
    assert result.exit_code == 2 and expected in result.output, result.output
    weights = hashlib.sha256(WEIGHTS).hexdigest()  # config.json, verified before, may stay
    assert [f for f in leftovers() if weights in f or f.endswith(".incomplete") or f.startswith("artengine/")] == []
    with pytest.raises(artengine.UsageError, match="HF_HUB_OFFLINE"):
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        load("toy:a")


class FullDisk:
    """A partial file that takes `room` bytes, then fails as a full disk does."""

    def __init__(self, path, room):
        self.file, self.room = open(path, "ab"), room

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def tell(self):
        return self.file.tell()

    def write(self, data):
        if self.file.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.file.write(data)


def test_a_cut_connection_resumes_where_it_stopped(toy, cli, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 10_000)  # what it writes at once (10 MB by default)
    toy.cut["weights.bin"] = 120_000
    result = cli("models", "pull", "toy:a")
    assert result.exit_code == 0, result.output
    assert ("/org/toy/resolve/" + toy.repos["org/toy"]["commit"] + "/weights.bin", "bytes=120000-") in toy.downloads()
    assert load("toy:a")["weights.bin"] == WEIGHTS


def test_an_interrupted_run_resumes_from_its_partial_file(toy, cli):
    blob = hf_home() / "hub/models--org--toy/blobs" / hashlib.sha256(WEIGHTS).hexdigest()
    blob.parent.mkdir(parents=True)
    Path(f"{blob}.incomplete").write_bytes(WEIGHTS[:200_000])  # what a killed run left
    result = cli("models", "pull", "toy:a")
    assert result.exit_code == 0, result.output
    assert [r for p, r in toy.downloads() if p.endswith("weights.bin")] == ["bytes=200000-"]
    assert blob.read_bytes() == WEIGHTS and not Path(f"{blob}.incomplete").exists()


def test_a_file_changed_after_verification_is_not_read_until_pulled_again(toy, monkeypatch):
    load("toy:a")
    blob = hf_home() / "hub/models--org--toy/blobs" / hashlib.sha256(WEIGHTS).hexdigest()
    blob.write_bytes(b"x" * len(WEIGHTS))  # damaged on disk
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(artengine.UsageError, match="not downloaded"):
        load("toy:a")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(artengine.UsageError, match="does not match the sha256"):
        load("toy:a")  # hashed again, found wrong, deleted
    assert load("toy:a")["weights.bin"] == WEIGHTS  # and fetched anew


def test_plain_url_files_without_a_published_hash_are_recorded_at_first_download(toy, cli):
    result = cli("models", "pull", "toy:b")
    assert result.exit_code == 0, result.output
    assert f"its sha256 {hashlib.sha256(PLAIN).hexdigest()} is recorded" in result.output


def test_pull_ls_rm(toy, cli):
    assert "no published model is downloaded" in cli("models", "ls").output
    pulled = cli("models", "pull", "toy:a", "toy:b")
    assert pulled.exit_code == 0, pulled.output
    assert "toy:a: 2 files, 300.0 kB, verified, in " in pulled.output
    listed = json.loads(cli("models", "ls", "--json").stdout)
    assert [(row["name"], row["files"], row["state"]) for row in listed] == [("toy:a", 2, "ready"), ("toy:b", 2, "ready")]
    removed = cli("models", "rm", "toy:a")
    assert removed.exit_code == 0 and "deleted 1 files" in removed.output and "kept the files toy:b also uses" in removed.output
    assert [row["name"] for row in json.loads(cli("models", "ls", "--json").stdout)] == ["toy:b"]
    assert load("toy:b")["w/renamed.bin"] == WEIGHTS
    assert cli("models", "rm", "toy:b").exit_code == 0
    assert [f for f in leftovers() if "/blobs/" in f or "/snapshots/" in f or "downloads/" in f] == []
    unknown = cli("models", "pull", "toy:aa")
    assert unknown.exit_code == 2 and "'toy:aa' is not a published model (did you mean 'toy:a'?)" in unknown.output


def test_list_models_shows_each_published_name_with_size_licence_and_source(builtin_plugins, cli):
    listed = {model["spec"]: model["details"] for item in json.loads(cli("list", "models", "--json").stdout)
              for model in item.get("available", [])}
    for spec in ("dalle-bart:mini", "dalle-bart:mega", "vqgan:imagenet-f16-1024", "vqgan:imagenet-f16-16384",
                 "vqgan:openimages-f16-8192", "vqgan:gumbel-f8-8192", "clip:ViT-B-32@openai", "clip:ViT-B-16@openai",
                 "unclip:kandinsky-2.2"):
        assert {"size", "licence", "source"} <= set(listed[spec]), spec
