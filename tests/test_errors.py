"""User mistakes: one clear line on stderr, a non-zero exit, no traceback, nothing written."""

import pytest

CASES = [
    (["generate", "red", "-g", "sloid"], 2, "unknown generator 'sloid' (did you mean 'solid'?)"),
    (["generate", "red", "-g", "solid", "--set", "generator.bordr=1"], 2, "unknown option 'generator.bordr' (did you mean 'generator.border'?)"),
    (["generate", "red", "-g", "solid", "--scorer", "redneth"], 2, "unknown scorer 'redneth' (did you mean 'redness'?)"),
    (["generate", "red", "-g", "solid", "--loss", "tv:0.1"], 2, "unknown loss 'tv'"),
    (["generate", "red", "-g", "solid", "--loss", "tv:abc"], 2, "--loss: bad weight 'abc' in 'tv:abc'; a weight is a non-zero number, e.g. --loss tv:0.1"),
    (["generate", "red:abc", "-g", "solid"], 2, "bad weight 'abc'"),
    (["generate", "a||b", "-g", "solid"], 2, "part 2 is empty"),
    (["generate", "   ", "-g", "solid"], 2, "prompt is empty"),
    (["generate", "-g", "solid"], 2, "no prompt given"),
    (["generate", "red", "-g", "solid", "--config", "missing.toml"], 2, "config file 'missing.toml' does not exist"),
    (["generate", "--prompts", "missing.txt", "-g", "solid"], 2, "prompt file 'missing.txt' does not exist"),
    (["generate", "red", "-g", "solid", "--size", "10"], 2, "'10' is not a size; write WIDTHxHEIGHT"),
    (["generate", "red", "-g", "solid", "--size", "0x16"], 2, "each side must be between 1 and 8192"),
    (["generate", "red", "-g", "solid", "--size", "-8x16"], 2, "each side must be between 1 and 8192"),
    (["generate", "red", "-g", "solid", "--size", "100000x8"], 2, "each side must be between 1 and 8192"),
    (["generate", "red", "-g", "solid", "--size", "12x12"], 2, "size 12x12: solid needs multiples of 8"),
    (["generate", "red", "-g", "solid", "-n", "0"], 2, "n: 0 is below the minimum 1"),
    (["generate", "red", "-g", "solid", "-n", "2", "--keep", "5", "--scorer", "redness"], 2, "keep=5 is greater than n=2"),
    (["generate", "red", "-g", "solid", "--seed", "-5"], 2, "seed: -5 is below the minimum -1"),
    (["generate", "red", "-g", "solid", "--seed", str(2**32)], 2, "seed: 4294967296 is above the maximum"),
    (["generate", "red", "-g", "solid", "--device", "cuda"], 2, "--device cuda:"),
    (["generate", "red", "-g", "solid", "--sed", "4"], 2, "No such option '--sed'. (Did you mean one of: '--seed', '--set', '--size'?) (see 'artengine generate --help')"),
    (["generate", "red", "-g", "solid", "-n", "many"], 2, "'many' is not a valid integer"),
    (["list", "gadgets"], 2, "'gadgets' is not one of"),
    (["frobnicate"], 2, "No such command 'frobnicate'"),
    (["reproduce", "missing.png"], 2, "'missing.png' does not exist"),
    (["compare", "red", "-g", "solid", "--axis", "generator.border"], 2, "--axis 'generator.border': expected KEY=V1,V2"),
    (["compare", "red", "-g", "solid", "--axis", "generator.bordr=1,2"], 2, "unknown option 'generator.bordr'"),
]


@pytest.mark.parametrize("args, code, says", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_one_clear_line_and_nothing_written(cli, tmp_path, args, code, says):
    result = cli(*args)
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("artengine: error: ")
    assert says in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "outputs").exists()


def test_unwritable_out(cli, tmp_path):
    (tmp_path / "a-file").write_text("I am a file")
    result = cli("generate", "red", "-g", "solid", "--out", "a-file/sub")
    assert result.exit_code == 2
    assert "--out 'a-file/sub': cannot create the output folder" in result.stderr
    assert (tmp_path / "a-file").read_text() == "I am a file"


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "generate", "red", "-g", "sloid")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "unknown generator 'sloid'" in result.stderr


def test_an_unexpected_bug_is_still_one_line_without_debug(cli, monkeypatch):
    import artengine.run

    monkeypatch.setattr(artengine.run, "prepare", lambda *a: 1 / 0)
    import artengine.jobs

    monkeypatch.setattr(artengine.jobs, "prepare", lambda *a: 1 / 0)
    result = cli("generate", "red", "-g", "solid")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "artengine: error: unexpected ZeroDivisionError: division by zero (run with --debug for the traceback)"
    )
