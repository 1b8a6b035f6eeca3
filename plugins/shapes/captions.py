"""Captions of the shapes world: writing one for a scene, and parsing a user's prompt.

One object:   a [SIZE] COLOUR SHAPE [POSITION] [on a BACKGROUND background]
Two objects:  a COLOUR SHAPE RELATION a COLOUR SHAPE [on a BACKGROUND background]
"""

from __future__ import annotations

import difflib

from artengine import UsageError, closest

from .scene import Scene, SceneObject
from .vocabulary import BACKGROUNDS, COLOURS, POSITIONS, RELATIONS, SHAPES, SIZES

GRAMMAR = (
    "'a [small|large] COLOUR SHAPE [POSITION] [on a BACKGROUND background]' or "
    "'a COLOUR SHAPE RELATION a COLOUR SHAPE [on a BACKGROUND background]'"
)


def caption(scene: Scene) -> str:
    """The caption of `scene`, leaving out its omitted phrases and unknown attributes."""
    words = ["a"]
    if len(scene.objects) == 1:
        (thing,) = scene.objects
        if thing.size and "size" not in scene.omitted:
            words.append(thing.size)
        words += [thing.colour, thing.shape]
        if thing.position and "position" not in scene.omitted:
            words.append(thing.position)
    elif len(scene.objects) == 2:
        first, second = scene.objects
        if scene.relation is None:
            raise ValueError("a two-object scene needs a relation to be captioned")
        words += [first.colour, first.shape, scene.relation, "a", second.colour, second.shape]
    else:
        raise ValueError(f"a shapes-world scene has 1 or 2 objects, not {len(scene.objects)}")
    if scene.background and "background" not in scene.omitted:
        words.append(f"on a {scene.background} background")
    return " ".join(words)


def parse_caption(text: str) -> Scene:
    """The partial scene a prompt describes; what it leaves out is None.

    Case and extra spaces are ignored, and 'an' may stand for 'a' (captions the world writes
    always say 'a', as the grammar does). Text outside the grammar raises artengine.UsageError
    naming the word that does not fit and what was expected there.
    """
    words = _Words(text)
    words.expect_article()
    size = words.take(SIZES)
    first = SceneObject(words.need(COLOURS, "a colour"), words.need(SHAPES, "a shape"), size=size)
    relation = words.take(RELATIONS)
    position = None
    if relation is not None:
        if size is not None:
            words.fail(f"a two-object prompt names no size (both objects have one size), but it says {size!r}")
        words.expect_article()
        second = SceneObject(words.need(COLOURS, "a colour"), words.need(SHAPES, "a shape"))
        if second.colour == first.colour:
            words.fail(f"the two objects must have different colours, but both are {first.colour}")
        objects = (first, second)
    else:
        position = words.take(POSITIONS)
        objects = (SceneObject(first.colour, first.shape, size=size, position=position),)
    background = None
    if words.take(("on a",)):
        background = words.need(BACKGROUNDS, "a background colour")
        words.expect("background")
    if not words.done:
        expected, phrases = "the end of the prompt", ["on a"]
        if relation is None and position is None:
            expected = (f"a position ({', '.join(POSITIONS)}), a relation ({', '.join(RELATIONS)}), "
                        "'on a BACKGROUND background' or the end")
            phrases += [*POSITIONS, *RELATIONS]
        elif relation is None and background is None:
            expected = "'on a BACKGROUND background' or the end"
        words.fail(f"expected {expected}, got {words.rest!r}{words.suggest(phrases)}")
    return Scene(objects, background=background, relation=relation)


class _Words:
    """A cursor over the prompt's words that matches the grammar's words and phrases."""

    def __init__(self, text: str):
        if not isinstance(text, str) or not text.strip():
            raise UsageError(f"shapes-world prompt is empty; write {GRAMMAR}")
        self.text = text
        self.words = text.lower().split()
        self.at = 0

    @property
    def done(self) -> bool:
        return self.at >= len(self.words)

    @property
    def rest(self) -> str:
        return " ".join(self.words[self.at :])

    @property
    def here(self) -> str:
        return repr(self.words[self.at]) if not self.done else "the end of the prompt"

    def take(self, phrases) -> str | None:
        """The phrase among `phrases` that starts here (consumed), or None."""
        for phrase in sorted(phrases, key=lambda p: -len(p.split())):
            length = len(phrase.split())
            if self.words[self.at : self.at + length] == phrase.split():
                self.at += length
                return phrase
        return None

    def suggest(self, phrases) -> str:
        """' (did you mean ...?)' for a phrase close to the words here, or ''."""
        scored = [(difflib.SequenceMatcher(None, " ".join(self.words[self.at : self.at + len(p.split())]), p).ratio(), p)
                  for p in phrases]
        ratio, best = max(scored)
        return f" (did you mean '{best}'?)" if ratio >= 0.8 else ""

    def need(self, choices, what: str) -> str:
        found = self.take(choices)
        if found is None:
            hint = closest(self.words[self.at], choices) if not self.done else ""
            self.fail(f"expected {what} ({', '.join(choices)}), got {self.here}{hint}")
        return found

    def expect(self, word: str) -> None:
        if self.take((word,)) is None:
            self.fail(f"expected {word!r}, got {self.here}")

    def expect_article(self) -> None:
        if self.take(("an",)) is None:
            self.expect("a")

    def fail(self, problem: str):
        raise UsageError(f"prompt {self.text!r} is outside the shapes world: {problem}; prompts read {GRAMMAR}")
