"""Concurrency and the last mile: settings changed at once, a linked config, control characters
on a terminal, absurd paths, a closed stdout, two index updates at once.

Each case ends either in the right result (every one of eight simultaneous `config set` lands;
a linked config is changed where it lives) or in one line and a non-zero exit naming what is
wrong, never an "unexpected" error.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

import artengine.cli_group
from artengine.errors import printable

ROOT = Path(__file__).resolve().parents[1]


def environment(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "ARTENGINE_CONFIG_DIR": str(tmp_path / "cfg"), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def artengine_command(*args) -> list[str]:
    return [sys.executable, "-m", "artengine", *map(str, args)]


SETTINGS = {"n": "3", "keep": "1", "seed": "7", "size": "64x64", "device": "cpu", "out": "elsewhere",
            "prompt": "a red square", "prompts_file": "prompts.txt"}


def test_eight_simultaneous_config_sets_all_land(tmp_path):
    (tmp_path / "prompts.txt").write_text("a blue circle\n")
    processes = [subprocess.Popen(artengine_command("config", "set", key, value), env=environment(tmp_path),
                                  cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for key, value in SETTINGS.items()]
    for process in processes:
        assert process.wait(timeout=120) == 0, process.stderr.read()
    import tomllib

    saved = tomllib.loads((tmp_path / "cfg" / "config.toml").read_text())
    assert {key: str(saved[key]) for key in SETTINGS} == SETTINGS


def test_a_linked_config_is_changed_where_it_lives(cli, tmp_path):
    (tmp_path / "dotfiles").mkdir()
    (tmp_path / "dotfiles" / "artengine.toml").write_text("# mine\nn = 2\n")
    (tmp_path / "user-config").mkdir()
    (tmp_path / "user-config" / "config.toml").symlink_to(tmp_path / "dotfiles" / "artengine.toml")
    assert cli("config", "set", "seed", "5").exit_code == 0
    assert (tmp_path / "user-config" / "config.toml").is_symlink()
    assert (tmp_path / "dotfiles" / "artengine.toml").read_text() == "# mine\nn = 2\nseed = 5\n"


def one_line(result, code: int, says: str) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("artengine: error: ") and says in lines[0], result.stderr
    assert "unexpected" not in lines[0]
    return lines[0]


DEEP = "/".join(["a"] * 10_000)

# (case, the command, the exit code, what the one line says)
REFUSED = [
    ("config set: a value of two lines", ("config", "set", "prompt", "red\nrm -rf ~"), 2, "holds a line break"),
    ("config set: a carriage return", ("config", "set", "prompt", "red\rblue"), 2, "holds a line break"),
    ("generate --out: 10,000 path components", ("generate", "red", "-g", "solid", "--out", DEEP), 2,
     "File name too long"),
    ("compare --out: 10,000 path components", ("compare", "red", "-g", "solid", "-g", "slow", "--out", DEEP), 2,
     "File name too long"),
    ("train --out: 10,000 path components", ("train", "line", "--out", DEEP, "--device", "cpu"), 2,
     "File name too long"),
    ("--prompts: 10,000 path components", ("generate", "-g", "solid", "--prompts", DEEP), 2, "File name too long"),
]


@pytest.mark.parametrize("case, args, code, says", REFUSED, ids=[row[0] for row in REFUSED])
def test_the_last_mile_is_one_line(cli, tmp_path, case, args, code, says):
    one_line(cli(*args), code, says)
    assert not (tmp_path / "user-config" / "config.toml").exists()
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("args", [("list", "generators", "--json"), ("config", "show", "--json"), ("config", "path")])
def test_a_closed_stdout_is_one_line(tmp_path, args):
    command = " ".join(f"'{part}'" for part in artengine_command(*args))
    result = subprocess.run(["sh", "-c", f"{command} >&-"], env=environment(tmp_path), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write to standard output: it is closed" in lines[0], result.stderr


def test_a_second_index_update_is_told_another_holds_the_index(cli, host, tmp_path):
    import artengine.plugins.clip
    import artengine.plugins.search
    from artengine.plugins.search import store
    from tests.search_helpers import shapes_folder, tiny_clip

    host.add(artengine.plugins.clip, name="clip")
    host.add(artengine.plugins.search, name="search")
    model = tiny_clip(tmp_path / "tiny")
    shapes_folder(tmp_path / "pics", 2)
    assert cli("index", "build", tmp_path / "pics", "--model", model, "--out", tmp_path / "idx", "--device", "cpu").exit_code == 0
    before = (tmp_path / "idx" / "manifest.json").read_bytes()
    holder = store.lock(tmp_path / "idx")  # the first update, still writing
    try:
        one_line(cli("index", "update", tmp_path / "idx", "--device", "cpu"), 2, "another `artengine index build` or "
                 "`index update` is writing it")
    finally:
        holder.release()
    assert (tmp_path / "idx" / "manifest.json").read_bytes() == before
    assert cli("index", "update", tmp_path / "idx", "--device", "cpu").exit_code == 0


# -- control characters reach a terminal escaped -------------------------------------------------

HOSTILE = "red\x1b]0;pwned\x07\x1b[2J\x9b31m\x7f"


def test_printable_escapes_every_control_character_but_newline_and_tab():
    assert printable(HOSTILE + "\n\tok") == "red\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\x7f\n\tok"
    assert all(printable(chr(code)).startswith("\\x") for code in [*range(0, 9), *range(11, 32), *range(127, 160)])


class FakeTerminal:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text
        return len(text)

    def isatty(self):
        return True


def test_stdout_on_a_terminal_escapes_control_characters_and_a_pipe_gets_the_bytes():
    terminal = FakeTerminal()
    artengine.cli_group.guarded_stdout(terminal).write(HOSTILE)
    assert "\x1b" not in terminal.text and "\\x1b]0;pwned" in terminal.text
    pipe = FakeTerminal()
    pipe.isatty = lambda: False
    artengine.cli_group.guarded_stdout(pipe).write(HOSTILE)
    assert pipe.text == HOSTILE


def run_on_a_terminal(args, tmp_path) -> str:
    """What `artengine ARGS` shows on a terminal (stdout and stderr both a pty)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(artengine_command(*args), env=environment(tmp_path), stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the program ended and closed its side
            break
        if not chunk:
            break
        shown += chunk
    process.wait(timeout=60)
    os.close(leader)
    return shown.decode("utf-8", "replace")


@pytest.mark.parametrize("args", [("reproduce", HOSTILE + ".png"), ("config", "set", "prompt", HOSTILE)],
                         ids=["an error naming a file", "config set saying what it set"])
def test_on_a_terminal_no_control_character_gets_through(tmp_path, args):
    shown = run_on_a_terminal(args, tmp_path)
    assert "red\\x1b]0;pwned\\x07" in shown
    start = shown.index("red\\x1b]0;pwned")  # the value as shown (a progress spinner before it has its own escapes)
    said = shown[start:shown.index("\n", start)]
    assert not any(character in said for character in "\x1b\x07\x9b\x7f"), said
