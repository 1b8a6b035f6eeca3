"""The web UI in a real headless Chromium, every request off the machine blocked: generate with
the shipped dalle model, stop a vqgan-clip run midway, compare, browse the gallery, see a
validation error beside its field, and a third-party plugin's generator in the form; and the
workbench a user of A1111, Fooocus or InvokeAI expects (docs/ui.md): jobs with ids and their
own Stop that survive a reload, feedback while models load and when the server is gone, the
prompt and Generate at the top with results beside them, PNG Info, image uploads, a paged
gallery, dark mode and a phone's width, and errors in view."""

import io
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

import artengine
import artengine.files

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


    class Tint(Generator):
        name = "tint"
        description = "Paints the average colour of its init image (an image option: an upload)."
        options = (Option("init_image", str, "", "Image whose colour is painted."),)

        def generate(self, request, progress):
            from PIL import Image

            colour = (0, 0, 0)
            if request.options["init_image"]:
                colour = artengine.files.read_image(request.options["init_image"], "init_image").resize((1, 1)).getpixel((0, 0))
            progress(1, 1)
            return [Candidate(Image.new("RGB", request.size, colour), seed, {}) for seed in request.seeds]


    @artengine.hookimpl
    def register_generators(register):
        register(Stripes)
        register(Pause)
        register(Tint)
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


def local_context(browser, **options):
    """A browser context whose requests that would leave the machine are blocked and recorded
    (the list returned): the page must load nothing from elsewhere."""
    context = browser.new_context(**options)
    blocked = []

    def only_local(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    return context, blocked


@pytest.fixture
def page(browser, server):
    """The page, with every request that would leave the machine blocked and recorded."""
    context, blocked = local_context(browser, viewport={"width": 1300, "height": 900})
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
    """The input of `key`, its folded section opened (a user unfolds it to type there)."""
    found = page.locator(f'{form} [data-key="{key}"]').locator("input:not([type=range]), select, textarea").first
    found.evaluate("e => { for (let d = e.closest('details'); d; d = d.parentElement.closest('details')) d.open = true; }")
    return found


def unfold(page, form="#generate-form"):
    page.locator(f"{form} details").evaluate_all("all => all.forEach(d => d.open = true)")


def start(page, form="#generate-form", path="generate"):
    """Click the form's button; returns the new job's box (found by the id the server gave it)."""
    with page.expect_response(f"**/api/{path}") as answer:
        page.click(f"{form} button.primary")
    assert answer.value.ok, answer.value.text()
    job = page.locator(f'.job[data-job="{answer.value.json()["id"]}"]')
    job.wait_for()
    return job


def png_bytes(colour="red", size=(16, 16), **texts) -> bytes:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


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
    assert page.locator('#generate-form .field[data-key="generator.width"] label').inner_text() == "Width"


def test_a_bad_value_shows_the_clis_error_beside_its_field_unfolded_and_in_view(page, server):
    page.set_viewport_size({"width": 1300, "height": 500})
    page.fill("#generate-prompt", "red stripes")
    page.select_option("#generate-generator", "stripes")
    field(page, "generator.width").fill("0")
    page.locator("#generate-form details.generator-options").evaluate("d => d.open = false")  # folded again
    page.evaluate("window.scrollTo(0, 0)")
    page.click("#generate-form button.primary")
    error = page.locator('#generate-form .field[data-key="generator.width"] .error')
    error.wait_for()
    assert error.inner_text() == "artengine: error: settings: generator.width: 0 is below the minimum 1"
    expect(error).to_be_in_viewport()
    assert not server[1].exists() or not list(server[1].iterdir())


def test_generate_with_the_shipped_dalle_model_shows_the_images(page):
    page.fill("#generate-prompt", "a red circle")
    page.select_option("#generate-generator", "dalle")
    field(page, "n").fill("2")
    field(page, "seed").fill("1")
    job = start(page)
    job.locator(DONE).wait_for(timeout=300_000)
    assert job.locator(".status").get_attribute("data-status") == "complete"
    expect(job.locator("figure img")).to_have_count(2)
    assert images_loaded(page, f'.job[data-job="{job.get_attribute("data-job")}"] figure img') == [True, True]
    assert re.search(r"#1 · score 0\.\d{4} · seed [12]", job.locator("figcaption").first.inner_text())


def test_dalle_shows_its_rows_live_as_previews(page, server):
    page.fill("#generate-prompt", "a green triangle")
    page.select_option("#generate-generator", "dalle")
    field(page, "n").fill("32")
    for key, value in {"generator.batch_size": "1", "generator.save_every": "1"}.items():
        field(page, key).fill(value)
    job = start(page)
    job.locator(".preview img").wait_for(timeout=300_000)  # a row decoded while it runs
    assert "/previews/" in job.locator(".preview img").get_attribute("src")
    expect(job.locator(".preview img")).to_have_js_property("complete", True)
    job.locator("button.stop").click()
    job.locator(DONE).wait_for(timeout=120_000)
    assert job.locator(".status").get_attribute("data-status") == "interrupted"


def test_losses_are_offered_only_for_a_generator_that_takes_them_with_their_options(page, server):
    before = runs(server[1])
    unfold(page)
    page.select_option("#generate-generator", "dalle")
    expect(page.locator("#generate-form .losses")).to_be_hidden()
    page.fill("#generate-prompt", "a blue square")
    page.select_option("#generate-generator", "vqgan-clip")  # declares takes_losses
    expect(page.locator("#generate-form .losses")).to_be_visible()
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


def test_image_options_are_uploads_kept_in_the_run_folder_never_server_paths(page, server):
    page.select_option("#generate-generator", "vqgan-clip")
    for key in ("generator.init_image", "generator.image_prompts"):  # images in, not paths typed
        upload = page.locator(f'#generate-form .field[data-key="{key}"]')
        expect(upload.locator("input[type=file]")).to_have_count(1)
        expect(upload.locator("input[type=text], textarea")).to_have_count(0)
    page.select_option("#generate-generator", "tint")
    picker = page.locator('#generate-form .field[data-key="generator.init_image"] input[type=file]')
    picker.set_input_files(files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}])
    error = page.locator('#generate-form .field[data-key="generator.init_image"] .error')
    expect(error).to_contain_text("upload: the file is not a readable image")
    picker.set_input_files(files=[{"name": "blue.png", "mimeType": "image/png", "buffer": png_bytes("blue")}])
    chip = page.locator('#generate-form .field[data-key="generator.init_image"] .chip img')
    expect(chip).to_have_js_property("complete", True)
    assert error.inner_text() == ""
    page.fill("#generate-prompt", "the colour of the upload")
    job = start(page)
    job.locator(DONE).wait_for(timeout=120_000)
    run = server[1] / job.locator(".run-name").inner_text().removeprefix("run folder: ")
    document = json.loads((run / "run.json").read_text())
    (kept,) = document["uploads"]["generator.init_image"]
    assert (run / kept).read_bytes() == png_bytes("blue")
    assert document["configurations"]["tint"]["generator"]["init_image"].startswith(str(server[1] / "uploads"))
    from PIL import Image

    assert Image.open(run / document["images"][0]["path"]).getpixel((0, 0)) == (0, 0, 255)


def test_stop_midway_keeps_the_images_and_marks_the_run_interrupted(page, server):
    page.fill("#generate-prompt", "a blue square")
    page.select_option("#generate-generator", "vqgan-clip")
    for key, value in {"generator.steps": "5000", "generator.cutn": "1", "generator.save_every": "2"}.items():
        field(page, key).fill(value)
    job = start(page)
    job.locator(".preview img").wait_for(timeout=300_000)  # running, previews arriving
    assert re.search(r"step \d+/5000 · [\d.]+ steps/s · ETA \d+ s", job.locator(".progress-text").inner_text())
    job.locator("button.stop").click()
    job.locator(DONE).wait_for(timeout=120_000)
    assert job.locator(".status").get_attribute("data-status") == "interrupted"
    expect(job.locator("figure img")).to_have_count(1)
    run = job.locator(".run-name").inner_text().removeprefix("run folder: ")
    document = json.loads((server[1] / run / "run.json").read_text())
    assert document["status"] == "interrupted" and document["images"][0]["metadata"]["interrupted"] is True
    assert job.locator("button.resume").is_visible()


def test_each_job_has_its_id_and_its_own_stop(page):
    """Generate while a job runs: two boxes; the second's Stop stops the second, not the first."""
    page.fill("#generate-prompt", "busy")
    page.select_option("#generate-generator", "pause")
    field(page, "generator.steps").fill("600")
    first = start(page)
    expect(first.locator(".status")).to_have_attribute("data-status", "running")
    second = start(page)
    assert first.get_attribute("data-job") != second.get_attribute("data-job")
    expect(second.locator(".status")).to_have_attribute("data-status", "queued")
    assert page.locator("#generate-jobs .job").first.get_attribute("data-job") == second.get_attribute("data-job")
    second.locator("button.stop").click()
    expect(second.locator(".status")).to_have_attribute("data-status", "cancelled")
    expect(second.locator("button.stop")).to_be_hidden()
    assert first.locator(".status").get_attribute("data-status") == "running"
    first.locator("button.stop").click()
    expect(first.locator(".status")).to_have_attribute("data-status", "interrupted", timeout=30_000)


def test_a_reload_or_a_second_tab_loses_nothing(page, browser, server):
    page.fill("#generate-prompt", "kept across reloads")
    page.fill("#generate-negative", "blurry")
    page.select_option("#generate-generator", "pause")
    field(page, "generator.steps").fill("600")
    field(page, "seed").fill("7")
    job = start(page)
    job_id = job.get_attribute("data-job")
    expect(job.locator(".progress-text")).to_contain_text("/600")
    page.reload()
    page.wait_for_selector("body[data-ready]")
    again = page.locator(f'.job[data-job="{job_id}"]')
    expect(again.locator(".status")).to_have_attribute("data-status", "running")
    expect(again.locator(".progress-text")).to_contain_text("/600")  # its progress streams again
    assert page.input_value("#generate-prompt") == "kept across reloads"
    assert page.input_value("#generate-negative") == "blurry"
    assert page.input_value("#generate-generator") == "pause"
    assert field(page, "generator.steps").input_value() == "600" and field(page, "seed").input_value() == "7"
    assert "kept across reloads  (not: blurry)" in page.locator("#generate-form .history option").all_inner_texts()
    other = page.context.new_page()  # a second tab
    other.goto(server[0])
    other.wait_for_selector("body[data-ready]")
    other.locator(f'.job[data-job="{job_id}"] button.stop').click()
    expect(again.locator(".status")).to_have_attribute("data-status", "interrupted", timeout=30_000)
    other.close()


def test_the_first_click_says_models_are_loading_and_a_lost_server_is_said(page):
    held = []
    page.route("**/api/generate", lambda route: held.append(route))  # answered later: a fresh server loading its models
    page.fill("#generate-prompt", "red")
    page.select_option("#generate-generator", "stripes")
    page.click("#generate-form button.primary")
    busy = page.locator("#generate-form .busy")
    expect(busy).to_be_visible()
    expect(busy).to_contain_text("loading the models")
    expect(page.locator("#generate-form button.primary")).to_be_disabled()
    expect(busy).to_contain_text(re.compile(r"[1-9] s"))  # counting, so the page is seen to wait
    held[0].continue_()
    expect(busy).to_be_hidden(timeout=30_000)
    page.unroute("**/api/generate")
    page.route("**/api/**", lambda route: route.abort())  # the server is gone
    banner = page.locator("#connection")
    expect(banner).to_be_visible(timeout=10_000)
    expect(banner).to_contain_text("not answering")
    page.click("#generate-form button.primary")
    expect(page.locator("#generate-form .form-error")).to_contain_text("The server is not answering")
    page.unroute("**/api/**")
    expect(banner).to_be_hidden(timeout=10_000)  # back: said so too


def test_the_workbench_at_1366_by_768(browser, server):
    context, blocked = local_context(browser, viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(server[0])
    page.wait_for_selector("body[data-ready]")
    page.select_option("#generate-generator", "dalle")
    for selector in ("#generate-prompt", "#generate-negative", "#generate-generator", "#generate-form button.primary"):
        box = page.locator(selector).bounding_box()
        assert box["y"] + box["height"] <= 768, f"{selector} is below the first screen"
    form, results = page.locator("#generate-form").bounding_box(), page.locator("#view-generate .results").bounding_box()
    assert results["x"] >= form["x"] + form["width"] and results["width"] >= 700  # beside the form, wide
    labels = [t.strip() for t in page.locator("#generate-form label").all_text_contents()]
    assert "CUDA graphs" in labels and "Top k" in labels and not [t for t in labels if re.search(r"\((bool|int|float|str)", t)]
    guidance = page.locator('#generate-form .field[data-key="generator.guidance"] input[type=range]')
    assert guidance.get_attribute("min") == "0" and guidance.get_attribute("max") == "50"
    page.locator("#generate-form details.generator-options").evaluate("d => d.open = true")
    guidance.fill("7")
    assert field(page, "generator.guidance").input_value() == "7"
    page.select_option("#generate-generator", "stripes")
    page.fill("#generate-prompt", "red stripes")
    page.fill("#generate-negative", "blue")
    with page.expect_response("**/api/generate") as answer:
        page.locator("#generate-prompt").press("Control+Enter")
    job = page.locator(f'.job[data-job="{answer.value.json()["id"]}"]')
    expect(job.locator(".status")).to_have_attribute("data-status", "complete", timeout=60_000)
    assert job.locator(".status").inner_text().startswith("stripes: red stripes|blue:-1")
    image = job.locator("figure img").first
    expect(image).to_have_js_property("complete", True)
    assert image.bounding_box()["width"] >= 200 and image.is_visible()
    seed = job.locator("figcaption").first.inner_text().split("seed ")[1].split()[0]
    page.click("#generate-form .seed-reuse")
    assert field(page, "seed").input_value() == seed
    page.click("#generate-form .seed-random")
    assert field(page, "seed").input_value() == ""
    image.click()
    lightbox = page.locator("#lightbox")
    expect(lightbox).to_be_visible()
    assert lightbox.locator("img").bounding_box()["width"] >= 500  # zoomed
    assert lightbox.locator("a.download").get_attribute("href") == image.get_attribute("src")
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    assert blocked == []
    context.close()


def test_png_info_reads_our_pngs_and_webuis_and_sends_them_to_the_form(page, server):
    ours = next(p for p in sorted(server[1].glob("*/*.png")) if artengine.files.read_png_metadata(p)["prompt"] == "a red circle")
    unfold(page)
    page.set_input_files("#generate-form .png-file", str(ours))
    table = page.locator("#generate-form .png-table")
    expect(table).to_contain_text("a red circle")
    page.click("#generate-form .send-to-form")
    assert page.input_value("#generate-prompt") == "a red circle" and page.input_value("#generate-generator") == "dalle"
    webui = png_bytes(parameters="a cat in a hat\nNegative prompt: blurry, text\n"
                                 "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1234, Size: 64x64, Model: sd15")
    page.set_input_files("#generate-form .png-file", files=[{"name": "webui.png", "mimeType": "image/png", "buffer": webui}])
    expect(table).to_contain_text("a cat in a hat")
    page.click("#generate-form .send-to-form")
    assert page.input_value("#generate-prompt") == "a cat in a hat"
    assert page.input_value("#generate-negative") == "blurry, text"
    assert field(page, "seed").input_value() == "1234" and field(page, "size").input_value() == "64x64"
    assert field(page, "generator.guidance").input_value() == "7.5"  # dalle's guidance is webui's "CFG scale"


def test_a_prompt_cut_to_the_models_length_says_so_on_the_page(page):
    page.fill("#generate-prompt", " ".join(["a red circle and a blue square"] * 12))
    page.select_option("#generate-generator", "dalle")
    field(page, "n").fill("1")
    job = start(page)
    job.locator(DONE).wait_for(timeout=300_000)
    cut = re.compile(r"^(dalle|clip):\S+ reads at most \d+ tokens of text; .* so its last \d+ token\(s\) were cut$")
    expect(job.locator(".warnings li").filter(has_text="dalle:")).to_have_text(cut)  # the model's, and the scorer's
    expect(job.locator(".warnings li").filter(has_text="clip:")).to_have_text(cut)


def test_compare_two_configurations_shows_the_labelled_grid(page):
    page.click('nav [data-view="compare"]')
    page.fill("#compare-prompt", "red\nblue")
    page.select_option("#compare-form .configuration >> nth=0 >> select.generator-picker", "stripes")
    page.click("#compare-form .add-configuration")
    page.select_option("#compare-form .configuration >> nth=1 >> select.generator-picker", "stripes")
    unfold(page, "#compare-form")
    page.locator('#compare-form .configuration >> nth=1 >> [data-key="generator.width"] input[type=text]').fill("4")
    job = start(page, "#compare-form", "compare")
    job.locator(DONE).wait_for(timeout=300_000)
    assert job.locator(".status").get_attribute("data-status") == "complete"
    expect(job.locator(".grid img")).to_have_js_property("complete", True)
    assert sorted(job.locator("figcaption .help").all_inner_texts()) == [
        "stripes-2: blue", "stripes-2: red", "stripes: blue", "stripes: red"]


def test_the_gallery_lists_runs_opens_one_and_shows_its_metadata(page):
    page.click('nav [data-view="gallery"]')
    page.wait_for_selector("#gallery-list .run-card")
    page.fill("#gallery-search", "circle")
    expect(page.locator("#gallery-list .run-card")).to_have_count(2)  # the dalle run and the cut prompt's
    expect(page.locator("#gallery-how")).to_contain_text("Searched by prompt text (no search index at")
    page.locator("#gallery-list .run-card").get_by_text("a red circle", exact=True).click()
    dialog = page.locator("#gallery-run")
    dialog.locator("figure img").first.wait_for()
    expect(dialog).to_be_in_viewport()  # opened where the user is, not below thousands of runs
    assert dialog.locator(".status").get_attribute("data-status") == "complete"
    dialog.locator("figure button.metadata").first.click()
    expect(page.locator("#details pre")).to_contain_text('"prompt"')
    metadata = json.loads(page.locator("#details pre").inner_text())
    assert metadata["prompt"] == "a red circle" and metadata["config"]["generator"]["name"] == "dalle"
    page.click("#details button.close")
    dialog.locator("figure button.use-settings").first.click()
    expect(page.locator("#view-generate")).to_be_visible()
    assert page.input_value("#generate-prompt") == "a red circle"
    assert page.input_value("#generate-generator") == "dalle"
    assert field(page, "seed").input_value() == str(metadata["seed"])


def test_the_gallery_of_many_runs_comes_a_page_at_a_time_newest_first_and_filters(page, server):
    """A hundred and thirty older runs (no thumbnails are fetched until scrolled to)."""
    for index in range(130):
        folder = server[1] / f"20000101-{index:06d}-old"
        folder.mkdir()
        (folder / "old.png").write_bytes(png_bytes((index, 0, 0)))
        generator = "stripes" if index % 2 else "dalle"
        (folder / "run.json").write_text(json.dumps({
            "kind": "generate", "status": "complete", "started": f"2000-01-01T00:{index // 60:02d}:{index % 60:02d}",
            "configurations": {generator: {"generator": {"name": generator}, "prompts": [f"old {index}"]}},
            "images": [{"path": "old.png", "prompt": f"old {index}", "seed": index}]}))
    page.click('nav [data-view="gallery"]')
    cards = page.locator("#gallery-list .run-card")
    expect(cards).to_have_count(48)
    newest_old = cards.filter(has_text="old 129")
    oldest_shown = cards.nth(47).inner_text()
    assert newest_old.count() == 1 and "old 129" not in oldest_shown
    assert cards.locator("img").first.get_attribute("loading") == "lazy"
    page.locator("#gallery-more").scroll_into_view_if_needed()
    expect(cards).to_have_count(96)
    expect(page.locator("#gallery-more")).to_contain_text("96 of")
    page.select_option("#gallery-generator", "stripes")
    expect(page.locator("#gallery-more")).to_contain_text(re.compile(r"^48 of (6[5-9]|7\d) runs$"))  # 65 old, a few new
    texts = cards.all_inner_texts()
    assert all("stripes" in text for text in texts)
    page.select_option("#gallery-generator", "")
    expect(cards.first).not_to_contain_text("old")  # newest first: this session's runs lead


def test_dark_mode_follows_the_system_and_a_phone_gets_one_column(browser, server):
    context, blocked = local_context(browser, viewport={"width": 390, "height": 844}, color_scheme="dark",
                                     is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server[0])
    page.wait_for_selector("body[data-ready]")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert sum(map(int, re.findall(r"\d+", background)[:3])) < 150, background  # dark
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    # a job's warning naming a long path (a model in a deep checkout) wraps instead of widening the page
    page.evaluate("""document.querySelector('#generate-jobs .job .warnings').insertAdjacentHTML('beforeend',
                     '<li>dalle:/' + 'deepfolder/'.repeat(20) + 'shapes reads at most 64 tokens</li>')""")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    button = page.locator("#generate-form button.primary").bounding_box()
    assert button["y"] + button["height"] <= 844 and button["x"] + button["width"] <= 390
    form, results = page.locator("#generate-form").bounding_box(), page.locator("#view-generate .results").bounding_box()
    assert results["y"] >= form["y"] + form["height"] - 1 and results["width"] >= 340  # below, full width
    page.click('nav [data-view="gallery"]')
    page.wait_for_selector("#gallery-list .run-card")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert blocked == []
    context.close()


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
