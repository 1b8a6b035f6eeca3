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
    """The input of `key`, its folded section opened."""
    found = page.locator(f'{root} [data-key="{key}"]').locator("input:not([type=range]), select, textarea").first
    found.evaluate("e => { for (let d = e.closest('details'); d; d = d.parentElement.closest('details')) d.open = true; }")
    return found


def fold(page, root="#generate-form"):
    page.locator(f"{root} details").evaluate_all("all => all.forEach(d => d.open = false)")


def start(page, root="#generate-form", path="generate"):
    """Click the form's button; the new job's box."""
    with page.expect_response(f"**/api/{path}") as answer:
        page.click(f"{root} button.primary")
    job_id = answer.value.json()["id"]
    return page.locator(f'.job[data-job="{job_id}"]')


def shoot(page, name: str, full_page: bool = False) -> None:
    """The window as a user sees it (1366x768, a common laptop), or the whole page."""
    page.screenshot(path=str(HERE / f"{name}.png"), full_page=full_page)
    print(HERE / f"{name}.png")


def main() -> None:
    HERE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        out = str(Path(folder) / "outputs")  # its search index, made below, goes beside it: outputs.index
        process, url = start_server(out)
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768}, color_scheme="light")
            page.goto(url)
            page.wait_for_selector("body[data-ready]")

            page.fill("#generate-prompt", "a red circle to the left of a blue square")
            page.select_option("#generate-generator", "dalle")
            field(page, "n").fill("8")
            field(page, "keep").fill("4")
            field(page, "seed").fill("3")
            fold(page)
            job = start(page)
            job.locator(DONE).wait_for(timeout=LONG)
            expect(job.locator("figure img")).to_have_count(4)
            for image in job.locator("figure img").all():
                expect(image).to_have_js_property("complete", True)
            page.evaluate("window.scrollTo(0, 0)")
            shoot(page, "generate")

            job.locator("figure img").first.click()
            expect(page.locator("#lightbox img")).to_have_js_property("complete", True)
            shoot(page, "lightbox")
            page.keyboard.press("Escape")

            page.fill("#generate-prompt", "a large green triangle on a black background")
            page.fill("#generate-negative", "a blue square")
            page.select_option("#generate-generator", "vqgan-clip")
            for key, value in {"generator.steps": "400", "generator.save_every": "5", "seed": "1", "n": "2", "keep": ""}.items():
                field(page, key).fill(value)
            page.select_option("#generate-form .loss-picker", "symmetry")
            page.click("#generate-form button.add-loss")
            field(page, "losses.symmetry.weight").fill("0.2")
            fold(page)
            job = start(page)
            job.locator(".preview img").wait_for(timeout=LONG)
            expect(job.locator(".progress-text")).to_contain_text(re.compile(r"step \d\d+/400"), timeout=LONG)
            page.locator("#generate-form details.generator-options").evaluate("d => d.open = true")
            page.evaluate("window.scrollTo(0, 0)")
            shoot(page, "progress")
            job.locator("button.stop").click()
            job.locator(DONE).wait_for(timeout=LONG)
            fold(page)

            ours = next(Path(out).glob("*-a-red-circle*/*.png"))
            page.locator("#generate-form details.png-info").evaluate("d => d.open = true")
            page.set_input_files("#generate-form .png-file", str(ours))
            page.locator("#generate-form .png-table").wait_for()
            page.locator("#generate-form details.png-info").scroll_into_view_if_needed()
            shoot(page, "png-info")
            page.locator("#generate-form details.png-info").evaluate("d => d.open = false")

            page.click('nav [data-view="compare"]')
            page.fill("#compare-prompt", "a red circle\na blue square on a white background")
            field(page, "n", "#compare-form").fill("2")
            field(page, "seed", "#compare-form").fill("5")
            page.select_option("#compare-form .configuration >> nth=0 >> select.generator-picker", "dalle")
            page.fill("#compare-axes", "generator.temperature=0.5,1.0")
            job = start(page, "#compare-form", "compare")
            job.locator(DONE).wait_for(timeout=LONG)
            expect(job.locator(".grid img")).to_have_js_property("complete", True)
            shoot(page, "compare")

            subprocess.run([sys.executable, "-m", "artengine", "index", "build", out, "--device", "cpu"], check=True,
                           stdout=subprocess.DEVNULL)
            page.click('nav [data-view="gallery"]')
            page.wait_for_selector("#gallery-list .run-card")
            page.fill("#gallery-search", "a red circle")
            expect(page.locator("#gallery-how")).to_contain_text("Searched by CLIP", timeout=LONG)
            for image in page.locator("#gallery-list .run-card img").all():
                expect(image).to_have_js_property("complete", True)
            shoot(page, "gallery")
            page.locator("#gallery-list .run-card").last.click()
            page.wait_for_selector("#gallery-run figure img")
            shoot(page, "gallery-run")
            page.keyboard.press("Escape")

            page.click('nav [data-view="models"]')
            page.wait_for_selector(".model-card")
            shoot(page, "models", full_page=True)

            phone = browser.new_page(viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True)
            phone.goto(url)
            phone.wait_for_selector("body[data-ready]")
            phone.fill("#generate-prompt", "a red circle to the left of a blue square")
            phone.select_option("#generate-generator", "dalle")
            shoot(phone, "phone")
            phone.locator("#generate-jobs .job").first.scroll_into_view_if_needed()
            shoot(phone, "phone-results")
        finally:
            browser.close()
            process.terminate()
            process.wait(60)


if __name__ == "__main__":
    main()
