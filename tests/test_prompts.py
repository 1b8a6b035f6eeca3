"""Prompt syntax: `text:weight|other text:-1`."""

import pytest

from artengine.errors import UsageError
from artengine.prompts import parse_prompt, read_prompt_file


def parts(text):
    return [(p.text, p.weight) for p in parse_prompt(text).parts]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a red circle", [("a red circle", 1.0)]),
        ("a red circle:2", [("a red circle", 2.0)]),
        ("a red circle:0.5|blurry:-1", [("a red circle", 0.5), ("blurry", -1.0)]),
        ("  spaced out :1.5 |  other  ", [("spaced out", 1.5), ("other", 1.0)]),
        ("a portrait: watercolor", [("a portrait: watercolor", 1.0)]),
        ("style: oil: thick:3", [("style: oil: thick", 3.0)]),
        ("x:1e-1", [("x", 0.1)]),
    ],
)
def test_parts_and_weights(text, expected):
    assert parts(text) == expected


def test_text_is_kept_as_written_and_negatives_are_split_out():
    prompt = parse_prompt("a cat|a dog:-0.5")
    assert prompt.text == "a cat|a dog:-0.5"
    assert [p.text for p in prompt.positive] == ["a cat"]
    assert [p.text for p in prompt.negative] == ["a dog"]


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("text:abc", "bad weight 'abc'"),
        ("text:", "bad weight ''"),
        (":1", "has a weight but no text"),
        ("a||b", "part 2 is empty"),
        ("a|", "part 2 is empty"),
        ("a:0", "bad weight '0'"),
        ("a:nan", "bad weight 'nan'"),
        ("a:inf", "bad weight 'inf'"),
        ("a:-1", "at least one part with a positive weight"),
    ],
)
def test_malformed_prompts_say_what_is_wrong(text, says):
    with pytest.raises(UsageError, match=f"(?s){__import__('re').escape(says)}"):
        parse_prompt(text)


def test_prompt_file_skips_blank_lines_and_comments(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("# a comment\n\na red circle\n  # indented comment\nblue:2|red:-1\n")
    assert [p.text for p in read_prompt_file(path)] == ["a red circle", "blue:2|red:-1"]


def test_prompt_file_errors_name_the_line(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("fine\nbroken:abc\n")
    with pytest.raises(UsageError, match=r"p.txt:2"):
        read_prompt_file(path)


def test_missing_or_empty_prompt_file(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        read_prompt_file(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(UsageError, match="has no prompts"):
        read_prompt_file(tmp_path / "empty.txt")
