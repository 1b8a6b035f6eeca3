"""Opening an artengine HTML page in a real headless browser (Chromium), offline.

Write HARNESS (its iframe pointed at the page) beside the page and hand it to
`open_in_browser`: it returns what the browser saw (images, broken ones, labels, text)."""

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
