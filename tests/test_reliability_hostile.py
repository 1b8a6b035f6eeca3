"""Hostile input: bad kinds of file, bad structures, bad bytes, full disks, misbehaving plugins,
huge inputs, concurrent resumes, broken stdout. Each class is a table or a property over many
instances; every case must end in one clear line (or one warning), the right exit code,
nothing left behind and nothing lost.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import artengine
import artengine.files
import artengine.outputs
from artengine import Candidate, Generator, UsageError
from artengine.checkpoints import read_checkpoint
from artengine.errors import quote
from artengine.run_record import lock_run_dir
from artengine.safe_io import MAX_DEPTH, TEXT_LIMIT, dump_json, load_json
from tests import plugins_for_tests

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("watchdog")  # conftest.py: a hang fails after 60 s


def one_error_line(result, code: int, says: str = "") -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("artengine: error: "), result.stderr
    assert says in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def nothing_made(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    assert not outputs.exists() or not any(outputs.iterdir()), list(outputs.rglob("*"))


def solid_image(cli) -> Path:
    result = cli("generate", "red", "-g", "solid", "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["images"][0]["path"])


def interrupted_run(cli, tmp_path: Path) -> Path:
    """A run folder whose run.json says it was interrupted (one of two prompts done)."""
    (tmp_path / "two.txt").write_text("red\nblue\n")
    result = cli("generate", "-g", "solid", "--prompts", tmp_path / "two.txt", "--seed", "1", "--json")
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    document = json.loads((run_dir / "run.json").read_text())
    document["status"] = "interrupted"
    document["images"] = document["images"][:1]
    (run_dir / "run.json").write_text(json.dumps(document))
    for extra in sorted(run_dir.glob("0001-*")):
        extra.unlink()
    return run_dir


def png_with(path: Path, text: str) -> Path:
    info = PngInfo()
    info.add_itxt("artengine", text)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


# -- 1. only regular files are read, and only up to a sane size ------------------------------------

def make_hostile(kind: str, path: Path) -> Path:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "huge":  # sparse: it takes no disk, but says it holds more than any limit
        with open(path, "wb") as handle:
            handle.truncate(600 * 1024 * 1024)
    return path


KINDS = {"fifo": "is a FIFO", "device": "is a character device", "directory": "is a directory", "huge": "MiB"}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("place", ["--prompts", "--config", "reproduce", "--resume"])
def test_a_user_named_file_that_is_not_a_regular_file_or_is_huge_is_one_line(cli, tmp_path, place, kind):
    if place == "--resume":
        folder = tmp_path / "run"
        folder.mkdir()
        make_hostile(kind, folder / "run.json")
        args = ["generate", "--resume", folder]
    else:
        target = make_hostile(kind, tmp_path / "given")
        args = {"--prompts": ["generate", "-g", "solid", "--prompts", target],
                "--config": ["generate", "red", "-g", "solid", "--config", target],
                "reproduce": ["reproduce", target]}[place]
    # a run folder's own files are not read through a link at all (tests/test_reliability_links.py)
    says = "is a symbolic link" if (place, kind) == ("--resume", "device") else KINDS[kind]
    one_error_line(cli(*args), 2, says)
    nothing_made(tmp_path)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_plugin_file_that_is_not_a_regular_file_is_one_warning_and_the_rest_works(cli, tmp_path, kind):
    folder = tmp_path / "plugins"
    folder.mkdir()
    make_hostile(kind, folder / "hostile.py")
    result = cli("--plugins-dir", folder, "list", "generators")
    assert result.exit_code == 0, result.output
    assert "solid" in result.stdout
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and "plugin 'hostile'" in warnings[0] and KINDS[kind] in warnings[0], warnings


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("reader", ["init image", "checkpoint"])
def test_images_and_checkpoints_named_in_settings_are_regular_files_only(tmp_path, reader, kind):
    target = make_hostile(kind, tmp_path / "given.pt")
    with pytest.raises(UsageError) as refused:
        artengine.files.read_image(target, "generator.init_image") if reader == "init image" else read_checkpoint(target)
    if kind != "huge" or reader == "init image":  # a checkpoint may be as large as it likes
        assert KINDS[kind] in str(refused.value)


# -- 2. structured input has depth and content limits -----------------------------------------------

nesting = st.integers(min_value=MAX_DEPTH + 1, max_value=20_000)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=nesting, table=st.booleans())
def test_deeply_nested_config_and_set_values_are_refused(cli, tmp_path, depth, table):
    value = ("{a = " * depth + "1" + "}" * depth) if table else ("[" * depth + "]" * depth)
    (tmp_path / "deep.toml").write_text(f"n = {value}\n")
    one_error_line(cli("generate", "red", "-g", "solid", "--config", tmp_path / "deep.toml"), 2, "nested more than")
    one_error_line(cli("generate", "red", "-g", "solid", "--set", f"n={value}"), 2, "nested more than")
    nothing_made(tmp_path)


@pytest.mark.parametrize("digits", [4301, 100_000])
def test_numbers_with_more_digits_than_python_reads_are_one_line(cli, tmp_path, digits):
    (tmp_path / "big.toml").write_text(f"seed = {'9' * digits}\n")
    one_error_line(cli("generate", "red", "-g", "solid", "--config", tmp_path / "big.toml"), 2, "more digits than")
    one_error_line(cli("generate", "red", "-g", "solid", "--set", f"n={'9' * digits}"), 2, "more digits than")
    nothing_made(tmp_path)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=nesting, inner=st.sampled_from(["[", '{"a": ']))
def test_deeply_nested_png_metadata_and_run_json_are_refused(cli, tmp_path, depth, inner):
    closer = "]" if inner == "[" else "}"
    deep = inner * depth + "1" + closer * depth
    one_error_line(cli("reproduce", png_with(tmp_path / "deep.png", deep)), 2, "nested more than")
    folder = tmp_path / "run"
    folder.mkdir(exist_ok=True)
    (folder / "run.json").write_text('{"images": [], "configurations": {"x": ' + deep + "}}")
    one_error_line(cli("generate", "--resume", folder), 2, "nested more than")
    assert (folder / "run.json").read_text().startswith('{"images": []')


@pytest.mark.parametrize("setting", ["prompts_file", "out", "prompt", "prompts", "scorer.name"])
@pytest.mark.parametrize("where", ["--set", "config"])
def test_a_nul_byte_in_a_setting_is_one_line(cli, tmp_path, setting, where):
    value = json.dumps(["a\0b.txt"] if setting == "prompts" else "a\0b.txt")
    command = ["generate", "-g", "solid"] + ([] if setting.startswith("prompt") else ["red"])
    if where == "--set":
        args = [*command, "--set", f"{setting}={value}"]
    else:
        table, _, key = setting.rpartition(".")
        (tmp_path / "nul.toml").write_text(f"[{table}]\n{key} = {value}\n" if table else f"{key} = {value}\n")
        args = [*command, "--config", tmp_path / "nul.toml"]
    line = one_error_line(cli(*args), 2)
    assert "NUL" in line or "unknown scorer" in line
    nothing_made(tmp_path)


@pytest.mark.parametrize("seed", [-1, -5, 2**32, 2**40, 1.5, "7", True, None])
def test_png_metadata_with_a_seed_that_cannot_run_is_refused_naming_the_key(cli, tmp_path, seed):
    record = {"prompt": "red", "seed": seed, "config": {"generator": {"name": "solid"}, "device": "cpu"}}
    line = one_error_line(cli("reproduce", png_with(tmp_path / "seed.png", json.dumps(record))), 2)
    assert "seed" in line and "--seed" not in line
    nothing_made(tmp_path)


@pytest.mark.parametrize("path", ["/etc/passwd", "../elsewhere.png", "a/../../elsewhere.png", "", "/", "..",
                                  "link.png"])
def test_run_json_cannot_name_a_file_outside_its_run_folder(cli, tmp_path, path):
    run_dir = interrupted_run(cli, tmp_path)
    (run_dir / "link.png").symlink_to(tmp_path / "two.txt")
    document = json.loads((run_dir / "run.json").read_text())
    document["images"][0]["path"] = path
    (run_dir / "run.json").write_text(json.dumps(document))
    before = sorted(p.name for p in run_dir.iterdir())
    one_error_line(cli("generate", "--resume", run_dir), 2, "images[].path")
    assert sorted(p.name for p in run_dir.iterdir()) == before


@pytest.mark.parametrize("field, value", [("seed", -1), ("seed", "1"), ("rank", None), ("prompt", 3),
                                          ("score", "high"), ("metadata", []), ("images", {}),
                                          ("configurations", [])])
def test_run_json_fields_of_the_wrong_kind_are_refused(cli, tmp_path, field, value):
    run_dir = interrupted_run(cli, tmp_path)
    document = json.loads((run_dir / "run.json").read_text())
    (document if field in ("images", "configurations") else document["images"][0])[field] = value
    (run_dir / "run.json").write_text(json.dumps(document))
    one_error_line(cli("generate", "--resume", run_dir), 2, field)


# -- 3. any bytes the OS gives are handled ------------------------------------------------------------

not_utf8 = st.binary(min_size=1, max_size=12).filter(lambda b: not _is_utf8(b) and b"\0" not in b and b"/" not in b)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=not_utf8, place=st.sampled_from(["prompt", "--out", "--prompts"]))
def test_bytes_that_are_not_utf8_are_refused_before_any_folder_exists(cli, tmp_path, raw, place):
    text = os.fsdecode(b"x" + raw)  # what Python makes of such bytes in argv: lone surrogates
    args = {"prompt": ["generate", f"red {text}", "-g", "solid"],
            "--out": ["generate", "red", "-g", "solid", "--out", text],
            "--prompts": ["generate", "-g", "solid", "--prompts", text]}[place]
    one_error_line(cli(*args), 2, "not UTF-8")
    nothing_made(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "outputs") == []


@given(st.lists(st.text() | st.binary().map(os.fsdecode), max_size=5))
def test_run_records_keep_any_text_the_os_gives_losslessly(args):
    assert json.loads(dump_json({"command": args}))["command"] == args


def test_a_config_file_named_with_non_utf8_bytes_runs_and_is_recorded_losslessly(tmp_path):
    name = os.fsdecode(b"conf\xff.toml")
    (tmp_path / name).write_text('prompt = "red"\n')
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(Path(plugins_for_tests.__file__), plugins / "testing.py")
    result = subprocess.run([sys.executable, "-m", "artengine", "--plugins-dir", "plugins", "generate", "-g", "solid",
                             "--config", name, "--scorer", "none"], cwd=tmp_path, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (run_json,) = (tmp_path / "outputs").glob("*/run.json")
    assert name in json.loads(run_json.read_text())["command"]


# -- 4. a full disk leaves a true record -----------------------------------------------------------------

class FullDisk:
    """artengine's writer (`outputs`) on a disk that holds `capacity` bytes and `files` files under `root`."""

    def __init__(self, root: Path, capacity: int, files: int):
        self.root, self.capacity, self.files = root, capacity, files

    def _usage(self, exclude: Path | None = None) -> tuple[int, int]:
        entries = [p for p in self.root.rglob("*") if p.is_file()] if self.root.exists() else []
        return sum(p.stat().st_size for p in entries if p.resolve() != exclude), len(entries)

    def open(self, path, mode="r", *args, **kwargs):
        if not any(flag in mode for flag in "wax+"):
            return builtins.open(path, mode, *args, **kwargs)
        if not Path(path).exists() and self._usage()[1] >= self.files:
            raise OSError(errno.ENOSPC, "No space left on device (no free inode)")
        disk, handle = self, builtins.open(path, mode, *args, **kwargs)

        class Limited:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                handle.close()

            def write(self, data):
                used = disk._usage(exclude=Path(path).resolve())[0] + handle.tell()
                room = disk.capacity - used
                if len(data) > room:
                    handle.write(data[: max(room, 0)])
                    raise OSError(errno.ENOSPC, "No space left on device")
                return handle.write(data)

            def __getattr__(self, name):
                return getattr(handle, name)

        return Limited()


@pytest.mark.parametrize("capacity, files", [(0, 0), (100, 100), (5000, 1), (5000, 2), (9000, 4), (12_000, 6),
                                              (14_000, 100), (20_000, 8), (30_000, 100), (10**6, 100)])
def test_a_full_disk_leaves_a_failed_record_of_exactly_the_images_on_disk(cli, tmp_path, monkeypatch, capacity, files):
    disk = FullDisk(tmp_path / "outputs", capacity, files)
    monkeypatch.setattr(artengine.outputs, "open", disk.open, raising=False)
    result = cli("generate", "red|blue:-1", "-g", "solid", "-n", "6", "--seed", "1", "--scorer", "none",
                 "--size", "256x256")
    runs = list((tmp_path / "outputs").glob("*")) if (tmp_path / "outputs").exists() else []
    assert not (tmp_path / "outputs").exists() or runs, "an empty --out was left behind"
    if not runs:
        one_error_line(result, result.exit_code)
        assert result.exit_code != 0
        return
    (run_dir,) = runs
    document = json.loads((run_dir / "run.json").read_text())
    on_disk = sorted(p.name for p in run_dir.glob("*.png"))
    assert sorted(record["path"] for record in document["images"]) == on_disk
    assert not [p for p in run_dir.rglob("*") if ".tmp-" in p.name or (p.is_dir() and not any(p.iterdir()))]
    if result.exit_code == 0:
        assert document["status"] == "complete" and len(on_disk) == 6
    else:
        assert document["status"] == "failed", (document, result.output)
        assert "No space left" in document.get("error", ""), (document, result.output)
        assert "No space left" in result.stderr.strip().splitlines()[-1]


# -- 5. plugins cannot take the host down or hide ----------------------------------------------------------

IMPORT_FAILURES = ["import sys\nsys.exit()", "import sys\nsys.exit(3)", "raise SystemExit('bye')",
                   "raise KeyboardInterrupt", "raise BaseException('odd')", "raise GeneratorExit",
                   "def f(): f()\nf()", "x = (" * 200 + ")" * 200,
                   "raise MemoryError"]


@pytest.mark.parametrize("source", IMPORT_FAILURES)
def test_a_plugin_that_exits_or_raises_anything_at_import_is_one_warning(cli, tmp_path, source):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "rogue.py").write_text(source)
    (folder / "fine.py").write_text("x = 1\n")
    result = cli("--plugins-dir", folder, "generate", "red", "-g", "solid", "--json")
    assert result.exit_code == 0, result.output
    assert all(line.startswith("artengine: ") for line in result.stderr.splitlines()), result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("artengine: warning")]
    assert len(warnings) == 1 and "plugin 'rogue' (directory) failed to load" in warnings[0], result.stderr


@pytest.mark.parametrize("name", ["test-plugins", "solid"])
def test_a_plugin_file_whose_name_is_taken_is_a_visible_warning(cli, tmp_path, name):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / f"{name}.py").write_text("x = 1\n")
    result = cli("--plugins-dir", folder, "plugins")
    assert result.exit_code == 0, result.output
    if name == "test-plugins":
        assert "plugin 'test-plugins' (directory" in result.stderr and "rename it" in result.stderr
    else:
        assert result.stderr == ""  # a file named like a generator is no clash: plugins have their own names


def test_a_plugin_file_named_like_a_built_in_plugin_is_a_visible_warning(cli, tmp_path, builtin_plugins):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "dalle.py").write_text("x = 1\n")
    result = cli("--plugins-dir", folder, "plugins")
    assert result.exit_code == 0, result.output
    assert "'dalle'" in result.stderr and "taken by the built-in plugin" in result.stderr


class Misbehaving(Generator):
    description = "misbehaves"
    options = ()
    how = ""

    def check(self, request):
        if self.how.startswith("check:"):
            raise {"exit": SystemExit(2), "base": BaseException("odd"), "error": RuntimeError("no"),
                   "kbd": KeyboardInterrupt()}[self.how[6:]]

    def generate(self, request, progress):
        raisers = {"exit": SystemExit(0), "exit1": SystemExit(1), "base": BaseException("odd"),
                   "kbd": KeyboardInterrupt(), "genexit": GeneratorExit()}
        if self.how in raisers:
            raise raisers[self.how]
        metadata = {"object": {"x": object()}, "nan": {"x": float("nan")}, "surrogate": {"x": "\udcff"},
                    "deep": {"x": json.loads("[" * 100 + "]" * 100)}, "list": [1], "bytes": {"x": b"\xff"},
                    "key": {(1, 2): "tuple key"}}[self.how]
        return [Candidate(Image.new("RGB", request.size), seed, metadata) for seed in request.seeds]


HOWS = ["exit", "exit1", "base", "kbd", "genexit", "check:exit", "check:base", "check:error", "check:kbd",
        "object", "nan", "surrogate", "deep", "list", "bytes", "key"]


@pytest.mark.parametrize("how", HOWS)
def test_a_generator_that_exits_raises_anything_or_returns_unwritable_metadata_failed(cli, host, tmp_path, how):
    generator = type("Rogue", (Misbehaving,), {"name": "rogue", "how": how})
    module = types.SimpleNamespace(register_generators=artengine.hookimpl(lambda register: register(generator)))
    host.add(module, name="rogue-plugin")
    result = cli("generate", "red", "-g", "rogue", "--scorer", "none", "-n", "2")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("artengine: error: generator 'rogue' failed")
    assert "Traceback" not in result.output
    for run_json in (tmp_path / "outputs").glob("*/run.json"):
        assert json.loads(run_json.read_text())["status"] == "failed"


# -- 7. work and output are bounded ------------------------------------------------------------------------

@pytest.mark.parametrize("axes", [[1000, 1000, 1000], [100, 100], [1001], [10, 10, 11], [2] * 20])
def test_a_sweep_of_too_many_configurations_is_refused_before_it_is_built(cli, tmp_path, axes):
    args = []
    for number, count in enumerate(axes):
        args += ["--axis", f"generator.border={','.join(map(str, range(count)))}" if number == 0 else
                 f"generator.brightness={','.join(str(1 + i / 10**6) for i in range(count))}"]
    line = one_error_line(cli("compare", "red", "-g", "solid", *args), 2, "configurations, more than the 1,000")
    total = 1
    for count in axes:
        total *= count
    assert f"{total:,}" in line
    nothing_made(tmp_path)


@settings(max_examples=100)
@given(st.text(min_size=0, max_size=5000) | st.binary(max_size=5000) | st.lists(st.integers(), max_size=2000))
def test_a_quoted_input_is_short_whatever_its_size(value):
    assert len(quote(value)) <= 110


HUGE = "y" * 200_000
HUGE_INPUTS = [["generate", f"{HUGE}:zz", "-g", "solid"], ["generate", f"{HUGE}|{HUGE}:zz", "-g", "solid"],
               ["generate", "red", "-g", "solid", "--set", f"generator.{HUGE}=1"],
               ["generate", "red", "-g", "solid", "--set", f"generator.border={HUGE}"],
               ["generate", "red", "-g", "solid", "--size", HUGE], ["generate", "red", "-g", "solid", "--loss", HUGE],
               ["generate", "red", "-g", HUGE], ["compare", "red", "-g", "solid", "--axis", HUGE],
               ["generate", "red", "-g", "solid", "--set", f"{HUGE}=1"]]


@pytest.mark.parametrize("args", HUGE_INPUTS, ids=range(len(HUGE_INPUTS)))
def test_an_error_about_a_huge_input_quotes_it_shortened_once(cli, tmp_path, args):
    line = one_error_line(cli(*args), 2)
    assert len(line) < 1200 and line.count("y" * 20) <= 2  # head and tail of one shortened quote
    nothing_made(tmp_path)


# -- 8. the last mile ----------------------------------------------------------------------------------------

def test_a_second_resume_of_a_run_in_progress_is_refused(cli, tmp_path):
    run_dir = interrupted_run(cli, tmp_path)
    before = (run_dir / "run.json").read_text()
    lock = lock_run_dir(run_dir)  # as a first `--resume`, still running, holds it
    try:
        one_error_line(cli("generate", "--resume", run_dir), 2, "another artengine process is working on that run")
        assert (run_dir / "run.json").read_text() == before and len(list(run_dir.glob("*.png"))) == 1
    finally:
        lock.release()
    result = cli("generate", "--resume", run_dir)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("as_json", [False, True])
def test_stdout_that_cannot_be_written_after_a_run_says_what_was_saved(tmp_path, as_json):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(Path(plugins_for_tests.__file__), plugins / "testing.py")
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "artengine", "--plugins-dir", "plugins", "generate", "red",
                                 "-g", "solid", "-n", "2", "--scorer", "none", *(["--json"] if as_json else [])],
                                cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "artengine: error: cannot write to standard output (No space left on device); "
        "the run itself is complete: 2 image(s) saved in outputs/")
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr
    (run_json,) = (tmp_path / "outputs").glob("*/run.json")
    assert json.loads(run_json.read_text())["status"] == "complete"


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), ("TRUE", True), ("yes", True), ("on", True),
                                       (" Yes ", True), ("0", False), ("false", False), ("False", False),
                                       ("no", False), ("off", False), ("", False)])
def test_artengine_debug_is_a_boolean_with_the_usual_spellings(cli, monkeypatch, value, on):
    monkeypatch.setenv("ARTENGINE_DEBUG", value)
    result = cli("generate", "red:x", "-g", "solid")
    assert result.exit_code == 2
    assert ("Traceback" in result.stderr) is on


@pytest.mark.parametrize("value", ["maybe", "2", "-1", "enable", "nope", "tru"])
def test_artengine_debug_with_another_value_is_refused(cli, monkeypatch, value):
    monkeypatch.setenv("ARTENGINE_DEBUG", value)
    one_error_line(cli("list", "generators"), 2, "ARTENGINE_DEBUG")


@pytest.mark.parametrize("side, outcome", [(30, "fine"), (40, "warning"), (44, "warning"), (50, "error"),
                                           (60, "error")])
@pytest.mark.parametrize("place", ["init image", "reproduce"])
def test_a_decompression_bomb_is_our_own_one_line_warning_or_error(cli, tmp_path, monkeypatch, capfd, side, outcome,
                                                                   place):
    import warnings

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL warns above it and refuses above twice it
    monkeypatch.setattr("artengine.images._WARNED", set())
    path = png_with(tmp_path / "big.png", "{}") if place == "reproduce" else tmp_path / "big.png"
    Image.new("RGB", (side, side)).save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if place == "init image":
            try:
                artengine.files.read_image(path, "generator.init_image")
                stderr = capfd.readouterr().err
            except UsageError as error:
                stderr = f"artengine: error: {error}\n"
        else:
            stderr = cli("reproduce", path).stderr  # no metadata: an error in any case, after the read
    assert not [w for w in caught if "DecompressionBomb" in w.category.__name__]
    lines = stderr.strip().splitlines()
    assert all(line.startswith("artengine: ") for line in lines), stderr
    bombs = [line for line in lines if "pixels" in line]
    if outcome == "fine":
        assert bombs == []
    elif outcome == "warning":
        assert len(bombs) == 1 and bombs[0].startswith("artengine: warning: ") and "reading it anyway" in bombs[0]
    else:
        assert len(bombs) == 1 and bombs[0].startswith("artengine: error: ") and "decompression bomb" in bombs[0]


def _no_mps(name):
    if name == "mps":
        raise UsageError("--device mps: Apple MPS is not available on this machine; use --device cpu or auto")
    return "cpu"


@pytest.mark.parametrize("change, key", [({"seed": -1}, "'seed'"), ({"config": {"device": "mps"}}, "'device'"),
                                         ({"config": {"size": "abc"}}, "size"), ({"config": {"scorer": {"name": "nope"}}}, "nope"),
                                         ({"config": {"generator": {"name": "solid", "border": -1}}}, "border"),
                                         ({"config": {"generator": {"name": "nope"}}}, "nope"),
                                         ({"config": {"losses": {"nope": 1}}}, "nope"),
                                         ({"config": {"generator": "solid", "size": "12x12"}}, "12x12")])
def test_errors_from_png_metadata_name_the_metadata_key_not_a_flag(cli, tmp_path, monkeypatch, change, key):
    monkeypatch.setattr("artengine.devices.resolve_device", _no_mps)
    record = {"prompt": "red", "seed": 1, "config": {"generator": {"name": "solid"}, "device": "cpu"}}
    config = change.pop("config", {})
    record.update(change)
    record["config"].update(config)
    line = one_error_line(cli("reproduce", png_with(tmp_path / "meta.png", json.dumps(record))), 2, key)
    assert "'meta.png'" in line or str(tmp_path / "meta.png") in line
    assert not any(flag in line.split(";")[0] for flag in ("--seed", "--size", "--device", "-n ", "--set", "-g "))
    nothing_made(tmp_path)
