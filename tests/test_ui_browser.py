"""The web UI in a real headless Chromium, every request off the machine blocked: generate with
the shipped dalle model, stop a vqgan-clip run midway, compare, browse the gallery, see a
validation error beside its field, and a third-party plugin's generator in the form."""

import json
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.slow

THIRD_PARTY = textwrap.dedent('''
    """A plugin the UI has never heard of: its generator must appear with its options."""
    import artengine
    from artengine import Candidate, Generator, Option


    class Stripes(Generator):
        name = "stripes"
        description = "Horizontal stripes (a third-party plugin)."
        options = (
            Option("width", int, 8, "Stripe width in pixels.", min=1, max=64),
            Option("colour", str, "red", "Colour of the stripes.", choices=("red", "green", "blue")),
        )

        def generate(self, request, progress):
            from PIL import Image, ImageDraw

            out = []
            for index, seed in enumerate(request.seeds):
                image = Image.new("RGB", request.size, "white")
                draw = ImageDraw.Draw(image)
                width = request.options["width"]
                for y in range(seed % width, request.size[1], 2 * width):
                    draw.rectangle((0, y, request.size[0], y + width - 1), fill=request.options["colour"])
                progress(index + 1, request.count, image)
                out.append(Candidate(image, seed, {}))
            return out


    class Pause(Generator):
        name = "pause"
        description = "Waits `steps` tenths of a second, then draws nothing (a job that is busy for a while)."
        options = (Option("steps", int, 10, "Tenths of a second to wait.", min=1),)

        def generate(self, request, progress):
            import time
            from PIL import Image

            for step in range(request.options["steps"]):
                time.sleep(0.1)
                progress(step + 1, request.options["steps"])
            return [Candidate(Image.new("RGB", request.size), seed, {}) for seed in request.seeds]


    @artengine.hookimpl
    def register_generators(register):
        register(Stripes)
        register(Pause)
''')
DONE = ':is([data-status="complete"], [data-status="interrupted"], [data-status="failed"])'


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`artengine --plugins-dir DIR ui --port 0` as a user starts it; yields (url, out folder)."""
    root = tmp_path_factory.mktemp("ui")
    (root / "plugins").mkdir()
    (root / "plugins" / "stripes.py").write_text(THIRD_PARTY)
    out = root / "outputs"
    process = subprocess.Popen(
        [sys.executable, "-m", "artengine", "--plugins-dir", str(root / "plugins"), "ui", "--port", "0", "--out", str(out)],
        stderr=subprocess.PIPE, text=True)
    line = ""
    while "artengine ui: http" not in line:
        line = process.stderr.readline()
        assert line or process.poll() is None, "the server did not start"
    url = re.search(r"http://\S+", line).group(0)
    yield url, out
    process.terminate()
    process.wait(60)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:  # a missing browser fails: a skip would pass a broken page unseen
        pytest.fail("the UI tests drive a real browser: install chromium (apt-get install chromium), "
                    "or leave out the end-to-end tests with -m 'not slow'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """The page, with every request that would leave the machine blocked and recorded."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    blocked = []

    def only_local(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.goto(server[0])
    page.wait_for_selector("body[data-ready]")
    yield page
    assert blocked == [], f"the page asked for outside resources: {blocked}"
    context.close()


def call(url, body=None):
    """The API as the page calls it (JSON); returns the answer's JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def field(page, key, form="#generate-form"):
    return page.locator(f'{form} [data-key="{key}"]').locator("input, select, textarea").first


def runs(out):
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def images_loaded(page, selector):
    """Whether each image matched has loaded (waiting for them first)."""
    images = page.locator(selector)
    for index in range(images.count()):
        expect(images.nth(index)).to_have_js_property("complete", True)
    return images.evaluate_all("els => els.map(e => e.naturalWidth > 0)")


def test_a_third_party_generator_appears_with_its_declared_options(page):
    assert "stripes (stripes)" in page.locator("#generate-generator option").all_inner_texts()
    page.select_option("#generate-generator", "stripes")
    width = field(page, "generator.width")
    assert width.input_value() == "8" and width.get_attribute("title") == "Stripe width in pixels."
    assert page.locator('#generate-form [data-key="generator.colour"] option').all_inner_texts() == ["red", "green", "blue"]


def test_a_bad_value_shows_the_clis_error_beside_its_field(page, server):
    page.fill("#generate-prompt", "red stripes")
    page.select_option("#generate-generator", "stripes")
    field(page, "generator.width").fill("0")
    page.click("#generate-form button.primary")
    error = page.locator('#generate-form .field[data-key="generator.width"] .error')
    error.wait_for()
    assert error.inner_text() == "artengine: error: settings: generator.width: 0 is below the minimum 1"
    assert not server[1].exists() or not list(server[1].iterdir())


def test_generate_with_the_shipped_dalle_model_shows_the_images(page):
    page.fill("#generate-prompt", "a red circle")
    page.select_option("#generate-generator", "dalle")
    field(page, "n").fill("2")
    field(page, "seed").fill("1")
    page.click("#generate-form button.primary")
    page.wait_for_selector(f"#generate-job {DONE}", timeout=300_000)
    assert page.locator("#generate-job .status").get_attribute("data-status") == "complete"
    expect(page.locator("#generate-job figure img")).to_have_count(2)
    assert images_loaded(page, "#generate-job figure img") == [True, True]
    assert re.search(r"#1 · score 0\.\d{4} · seed [12]", page.locator("#generate-job figcaption").first.inner_text())


def test_dalle_shows_its_rows_live_as_previews(page, server):
    page.fill("#generate-prompt", "a green triangle")
    page.select_option("#generate-generator", "dalle")
    field(page, "n").fill("32")
    for key, value in {"generator.batch_size": "1", "generator.save_every": "1"}.items():
        field(page, key).fill(value)
    page.click("#generate-form button.primary")
    page.wait_for_selector("#generate-job .preview img", timeout=300_000)  # a row decoded while it runs
    assert "/previews/" in page.locator("#generate-job .preview img").get_attribute("src")
    assert images_loaded(page, "#generate-job .preview img") == [True]
    page.click("#generate-form button.stop")
    page.wait_for_selector(f"#generate-job {DONE}", timeout=120_000)
    assert page.locator("#generate-job .status").get_attribute("data-status") == "interrupted"


def test_a_loss_brings_its_weight_and_declared_options_into_the_form(page, server):
    before = runs(server[1])
    page.fill("#generate-prompt", "a blue square")
    page.select_option("#generate-generator", "vqgan-clip")
    page.select_option("#generate-form .loss-picker", "symmetry")
    page.click("#generate-form button.add-loss")
    assert page.locator('#generate-form [data-key="losses.symmetry.axis"] option').all_inner_texts() == [
        "vertical", "horizontal", "both"]
    field(page, "losses.symmetry.weight").fill("heavy")
    page.click("#generate-form button.primary")
    error = page.locator('#generate-form .field[data-key="losses.symmetry.weight"] .error')
    error.wait_for()
    assert error.inner_text() == "artengine: error: settings: losses.symmetry.weight: expected float, got str 'heavy'"
    assert runs(server[1]) == before, "a refused request makes no run folder"


def test_stop_midway_keeps_the_images_and_marks_the_run_interrupted(page, server):
    page.fill("#generate-prompt", "a blue square")
    page.select_option("#generate-generator", "vqgan-clip")
    for key, value in {"generator.steps": "5000", "generator.cutn": "1", "generator.save_every": "2"}.items():
        field(page, key).fill(value)
    page.click("#generate-form button.primary")
    page.wait_for_selector("#generate-job .preview img", timeout=300_000)  # running, previews arriving
    assert re.search(r"step \d+/5000 · [\d.]+ steps/s · ETA \d+ s", page.locator("#generate-job .progress-text").inner_text())
    page.click("#generate-form button.stop")
    page.wait_for_selector(f"#generate-job {DONE}", timeout=120_000)
    assert page.locator("#generate-job .status").get_attribute("data-status") == "interrupted"
    assert images_loaded(page, "#generate-job figure img") == [True]
    run = page.locator("#generate-job .run-name").inner_text().removeprefix("run folder: ")
    document = json.loads((server[1] / run / "run.json").read_text())
    assert document["status"] == "interrupted" and document["images"][0]["metadata"]["interrupted"] is True
    assert page.locator("#generate-job button.resume").is_visible()


def test_compare_two_configurations_shows_the_labelled_grid(page):
    page.click('nav [data-view="compare"]')
    page.fill("#compare-prompt", "red\nblue")
    page.select_option("#compare-form .configuration >> nth=0 >> select.generator-picker", "stripes")
    page.click("#compare-form .add-configuration")
    page.select_option("#compare-form .configuration >> nth=1 >> select.generator-picker", "stripes")
    page.locator('#compare-form .configuration >> nth=1 >> [data-key="generator.width"] input').fill("4")
    page.click("#compare-form button.primary")
    page.wait_for_selector(f"#compare-job {DONE}", timeout=300_000)
    assert page.locator("#compare-job .status").get_attribute("data-status") == "complete"
    assert images_loaded(page, "#compare-job .grid img") == [True]
    assert sorted(page.locator("#compare-job figcaption .help").all_inner_texts()) == [
        "stripes-2: blue", "stripes-2: red", "stripes: blue", "stripes: red"]


def test_the_gallery_lists_runs_opens_one_and_shows_its_metadata(page):
    page.click('nav [data-view="gallery"]')
    page.wait_for_selector("#gallery-list .run-card")
    page.fill("#gallery-search", "circle")
    expect(page.locator("#gallery-list .run-card")).to_have_count(1)
    expect(page.locator("#gallery-how")).to_contain_text("Searched by prompt text (no search index at")
    page.click("#gallery-list .run-card")
    page.wait_for_selector("#gallery-run figure img")
    assert page.locator("#gallery-run .status").get_attribute("data-status") == "complete"
    page.locator("#gallery-run figure button.metadata").first.click()
    expect(page.locator("#details pre")).to_contain_text('"prompt"')
    metadata = json.loads(page.locator("#details pre").inner_text())
    assert metadata["prompt"] == "a red circle" and metadata["config"]["generator"]["name"] == "dalle"
    page.click("#details button.close")
    page.locator("#gallery-run figure button.use-settings").first.click()
    expect(page.locator("#view-generate")).to_be_visible()
    assert page.input_value("#generate-prompt") == "a red circle"
    assert page.input_value("#generate-generator") == "dalle"
    assert field(page, "seed").input_value() == str(metadata["seed"])


def test_a_form_on_another_site_cannot_stop_a_job(browser, server):
    """Last in this file: its run would be in the folder that earlier tests expect empty."""
    url = server[0]
    job = call(f"{url}api/generate", {"prompt": "busy", "fields": {"generator": "pause", "generator.steps": "600"}})
    stop = f"{url}api/jobs/{job['id']}/stop"
    attack = (f'<form method="post" enctype="text/plain" action="{stop}"><input name="x" value="y"></form>'
              "<script>document.forms[0].submit()</script>")
    context = browser.new_context()
    context.route("http://evil.example/", lambda route: route.fulfill(content_type="text/html", body=attack))
    page = context.new_page()
    with page.expect_response(stop) as answer:
        page.goto("http://evil.example/")
    assert answer.value.status == 403 and "another site" in answer.value.json()["error"]
    assert call(f"{url}api/jobs/{job['id']}")["status"] in ("queued", "running")
    context.close()
    assert call(stop, {})["status"] in ("running", "cancelled")  # the page's own stop still works
    state = call(f"{url}api/jobs/{job['id']}")
    while state["status"] in ("queued", "running"):
        state = call(f"{url}api/jobs/{job['id']}")
    assert state["status"] in ("interrupted", "cancelled")
