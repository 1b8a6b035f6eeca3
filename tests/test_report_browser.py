"""The compare report opens offline in a real headless browser: every image loads, every label shows."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

HARNESS = """<!doctype html><body><iframe id="page" src="index.html" width="1200" height="800"></iframe>
<pre id="result">pending</pre>
<script>
const frame = document.getElementById("page");
frame.onload = () => setTimeout(() => {
  const doc = frame.contentDocument;
  const images = [...doc.images];
  document.getElementById("result").textContent = JSON.stringify({
    images: images.length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute("src")),
    labels: [...doc.querySelectorAll(".label")].map(e => e.textContent),
    text: doc.body.innerText,
  });
}, 300);
</script></body>"""


def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:  # a missing browser fails: a skip would pass a broken report unseen
        pytest.fail("the report test opens a real browser: install chromium (apt-get install chromium), "
                    "or leave out the end-to-end tests with -m 'not slow'")
    return found


def open_in_browser(page: Path) -> dict:
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={page.parent / '.chromium-profile'}", "--allow-file-access-from-files",
        "--virtual-time-budget=10000", "--dump-dom", page.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    match = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert match and match.group(1) != "pending", dom[-2000:]
    return json.loads(html.unescape(match.group(1)))


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
