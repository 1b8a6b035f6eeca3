"""Option declarations: types, bounds, choices, defaults, did-you-mean."""

import pytest

from artengine import Option
from artengine.errors import UsageError
from artengine.options import resolve_options

DECLARED = (
    Option("steps", int, 50, "Optimisation steps.", min=1),
    Option("lr", float, 0.1, "Learning rate.", min=0.0),
    Option("optimizer", str, "adam", "Optimizer.", choices=("adam", "adamw")),
    Option("flip", bool, True, "Random flips."),
    Option("models", list, ["clip:shapes"], "CLIP specs."),
)


def test_defaults_fill_in_what_is_not_given():
    assert resolve_options(DECLARED, {"steps": 10}, "g") == {
        "steps": 10, "lr": 0.1, "optimizer": "adam", "flip": True, "models": ["clip:shapes"]
    }


@pytest.mark.parametrize(
    "given, expected",
    [
        ({"steps": 12}, {"steps": 12}),
        ({"lr": 2}, {"lr": 2.0}),
        ({"flip": False}, {"flip": False}),
        ({"models": "clip:a, clip:b"}, {"models": ["clip:a", "clip:b"]}),
        ({"models": ["x"]}, {"models": ["x"]}),
    ],
)
def test_values_are_checked_and_ints_widen_to_floats(given, expected):
    resolved = resolve_options(DECLARED, given, "g")
    assert {k: resolved[k] for k in expected} == expected


@pytest.mark.parametrize(
    "given, says",
    [
        ({"stpes": 3}, "g: unknown option 'stpes' (did you mean 'steps'?)"),
        ({"steps": "12"}, "g: steps: expected int, got str '12'"),
        ({"steps": 1.5}, "g: steps: expected int, got float 1.5"),
        ({"steps": True}, "expected int, got bool"),
        ({"steps": 0}, "g: steps: 0 is below the minimum 1"),
        ({"optimizer": "adan"}, "(did you mean 'adam'?)"),
        ({"flip": "yes"}, "expected bool"),
        ({"models": [1, 2]}, "expected list of strings"),
        ({"lr": float("nan")}, "finite"),
    ],
)
def test_bad_values_name_the_option(given, says):
    with pytest.raises(UsageError) as error:
        resolve_options(DECLARED, given, "g")
    assert says in str(error.value)


def test_describe_is_the_declaration_as_data():
    assert DECLARED[2].describe() == {
        "name": "optimizer", "type": "str", "default": "adam", "help": "Optimizer.", "choices": ["adam", "adamw"]
    }


def test_unsupported_type_is_a_declaration_error():
    with pytest.raises(TypeError):
        Option("x", dict, {}, "nope")
