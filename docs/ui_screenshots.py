"""Screenshots of each view of `artengine ui` into docs/ui/ (used by docs/ui.md and the README).

Starts the server on a temporary output folder, drives the page in headless Chromium (the
system's `chromium`, through playwright) with the shipped models, and saves one PNG per view:

    .venv/bin/python docs/ui_screenshots.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

HERE = Path(__file__).parent / "ui"
DONE = ':is([data-status="complete"], [data-status="interrupted"], [data-status="failed"])'
LONG = 600_000


def start_server(out: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "artengine", "ui", "--port", "0", "--out", out],
                               stderr=subprocess.PIPE, text=True)
    line = ""
    while "artengine ui: http" not in line:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise SystemExit("the server did not start")
    return process, re.search(r"http://\S+", line).group(0)


def field(page, key, root="#generate-form"):
    return page.locator(f'{root} [data-key="{key}"]').locator("input, select, textarea").first


def shoot(page, name: str) -> None:
    page.screenshot(path=str(HERE / f"{name}.png"), full_page=True)
    print(HERE / f"{name}.png")


def main() -> None:
    HERE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        out = str(Path(folder) / "outputs")  # its search index, made below, goes beside it: outputs.index
        process, url = start_server(out)
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 860})
            page.goto(url)
            page.wait_for_selector("body[data-ready]")

            page.fill("#generate-prompt", "a red circle to the left of a blue square")
            page.select_option("#generate-generator", "dalle")
            field(page, "n").fill("8")
            field(page, "keep").fill("4")
            field(page, "seed").fill("3")
            page.click("#generate-form button.primary")
            page.wait_for_selector(f"#generate-job {DONE}", timeout=LONG)
            expect(page.locator("#generate-job figure img")).to_have_count(4)
            shoot(page, "generate")

            page.fill("#generate-prompt", "a large green triangle on a black background")
            page.select_option("#generate-generator", "vqgan-clip")
            for key, value in {"generator.steps": "400", "generator.save_every": "5", "seed": "1", "n": "2", "keep": ""}.items():
                field(page, key).fill(value)
            page.select_option("#generate-form .loss-picker", "symmetry")
            page.click("#generate-form button.add-loss")
            field(page, "losses.symmetry.weight").fill("0.2")
            page.click("#generate-form button.primary")
            page.wait_for_selector("#generate-job .preview img", timeout=LONG)
            expect(page.locator("#generate-job .progress-text")).to_contain_text(re.compile(r"step \d\d+/400"), timeout=LONG)
            shoot(page, "progress")
            page.click("#generate-form button.stop")
            page.wait_for_selector(f"#generate-job {DONE}", timeout=LONG)

            page.click('nav [data-view="compare"]')
            page.fill("#compare-prompt", "a red circle\na blue square on a white background")
            field(page, "n", "#compare-form").fill("2")
            field(page, "seed", "#compare-form").fill("5")
            page.select_option("#compare-form .configuration >> nth=0 >> select.generator-picker", "dalle")
            page.fill("#compare-axes", "generator.temperature=0.5,1.0")
            page.click("#compare-form button.primary")
            page.wait_for_selector(f"#compare-job {DONE}", timeout=LONG)
            expect(page.locator("#compare-job .grid img")).to_have_js_property("complete", True)
            shoot(page, "compare")

            subprocess.run([sys.executable, "-m", "artengine", "index", "build", out, "--device", "cpu"], check=True,
                           stdout=subprocess.DEVNULL)
            page.click('nav [data-view="gallery"]')
            page.wait_for_selector("#gallery-list .run-card")
            page.fill("#gallery-search", "a red circle")
            expect(page.locator("#gallery-how")).to_contain_text("Searched by CLIP", timeout=LONG)
            page.locator("#gallery-list .run-card").last.click()
            page.wait_for_selector("#gallery-run figure img")
            shoot(page, "gallery")

            page.click('nav [data-view="models"]')
            page.wait_for_selector(".model-card")
            shoot(page, "models")
        finally:
            browser.close()
            process.terminate()
            process.wait(60)


if __name__ == "__main__":
    main()
