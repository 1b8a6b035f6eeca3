"""`--where`: a filter language read by a small parser, never run as code."""

import pyarrow as pa
import pytest

from artengine import UsageError
from artengine.plugins.search.where import mask

TABLE = pa.table({
    "generator": ["dalle", "vqgan-clip", None, "dalle"],
    "score": [0.3, 0.5, None, 0.1],
    "seed": [1, 2, 3, 4],
    "prompt": ["a red circle", "a blue square", None, "a red square"],
})


@pytest.mark.parametrize("text, rows", [
    ('generator = "dalle"', [0, 3]),
    ("generator == 'dalle'", [0, 3]),
    ('generator != "dalle"', [1]),
    ("score > 0.2", [0, 1]),
    ("score >= 0.3 and seed < 2", [0]),
    ('seed <= 1 or prompt contains "square"', [0, 1, 3]),
    ('not (generator = "dalle") and score != null', [1]),
    ("score = null", [2]),
    ('generator = "dalle" and (score > 0.2 or seed = 4)', [0, 3]),
    ('prompt contains "red" AND seed > 3', [3]),
    ('prompt = "it\\"s"', []),
])
def test_filters_select_the_rows_they_say(text, rows):
    assert list(mask(text, TABLE).nonzero()[0]) == rows


@pytest.mark.parametrize("text, words", [
    ("generatr = 'dalle'", "no column 'generatr' (did you mean 'generator'?)"),
    ("score = 'high'", "holds numbers; compare it with a number"),
    ("generator = 3", "holds text; compare it with a quoted text"),
    ("seed contains '1'", "'contains' looks for a quoted text"),
    ("score >", "expected a value"),
    ("(score > 1", "'(' is not closed"),
    ("score > 1 seed", "unexpected 'seed'"),
    ("", "it is empty"),
    ("score < null", "null is only compared with = or !="),
    ("__import__('os').system('touch hacked')", "cannot read \".system"),
    ("score > 1; drop table", "cannot read ';"),
])
def test_bad_filters_say_what_is_wrong(text, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=None) as caught:
        mask(text, TABLE)
    assert words in str(caught.value)
    assert not (tmp_path / "hacked").exists()
