"""The compare report opens offline in a real headless browser: every image loads, every label shows."""

import json
from pathlib import Path

import pytest

from tests.browser_helpers import HARNESS, open_in_browser


@pytest.mark.slow
def test_report_opens_offline_with_all_images_and_labels(cli, tmp_path):
    config = tmp_path / "compare.toml"
    config.write_text(
        'prompts = ["red", "blue"]\nseed = 3\nn = 2\n'
        '[configurations.plain]\ngenerator = "solid"\n'
        '[configurations."with frame"]\ngenerator = { name = "solid", border = 4 }\n'
    )
    result = cli("compare", "--config", config, "--json")
    assert result.exit_code == 0, result.output
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    (run_dir / "check.html").write_text(HARNESS)
    seen = open_in_browser(run_dir / "check.html")
    assert seen["images"] == 1 + 8  # the grid plus 2 configurations x 2 prompts x 2 candidates
    assert seen["broken"] == []
    assert seen["labels"] == ["plain", "with frame"]
    assert "border=4" in seen["text"]
