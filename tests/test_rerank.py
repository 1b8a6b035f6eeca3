"""rerank: score the PNGs in a folder against a prompt, best first."""

import json

from PIL import Image


def test_rerank_orders_by_score(cli, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, colour in [("a", (200, 0, 0)), ("b", (0, 0, 200)), ("c", (120, 40, 40))]:
        Image.new("RGB", (8, 8), colour).save(folder / f"{name}.png")
    result = cli("rerank", folder, "red", "--scorer", "redness", "--json")
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.stdout)["images"]
    assert [r["path"].rsplit("/", 1)[-1] for r in ranked] == ["a.png", "c.png", "b.png"]
    assert [r["rank"] for r in ranked] == [1, 2, 3]
    top = cli("rerank", folder, "red", "--scorer", "redness", "--keep", "1", "--set", "scale=2.0")
    assert top.stdout.count("\n") == 1 and "a.png" in top.stdout


def test_rerank_errors(cli, tmp_path):
    assert "is not a folder" in cli("rerank", tmp_path / "nope", "red", "--scorer", "redness").stderr
    assert "holds no .png images" in cli("rerank", tmp_path, "red", "--scorer", "redness").stderr
    (tmp_path / "fake.png").write_text("not a png")
    result = cli("rerank", tmp_path, "red", "--scorer", "redness")
    assert result.exit_code == 2 and "is not a readable image" in result.stderr
    assert "unknown scorer 'rednes' (did you mean 'redness'?)" in cli("rerank", tmp_path, "red", "--scorer", "rednes").stderr
