"""The UI's server, without a browser: the same runs as the CLI, the CLI's errors beside their
fields, files only from inside --out, basic auth, one job at a time per device."""

import base64
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import artengine
from artengine.files import read_png_metadata
from artengine.plugins import ui as ui_plugin
from artengine.plugins.ui import server
from artengine.plugins.ui.gallery import safe_path
from artengine.plugins.ui.jobs import QueuedJob, Jobs
from tests.ui_helpers import post, wait_done


OWN = "http://127.0.0.1:7860"
"""Where the tests' clients reach the server (the Host it answers to)."""


@pytest.fixture
def out(tmp_path):
    return tmp_path / "outputs"


@pytest.fixture
def client(out):
    with TestClient(server.create_app(out), base_url=OWN) as test_client:
        yield test_client


def test_the_schema_lists_every_registered_generator_with_its_declared_options(client):
    schema = client.get("/api/schema").json()
    solid = next(g for g in schema["generators"] if g["name"] == "solid")
    assert solid["plugin"] == "test-plugins"
    assert {"name": "brightness", "type": "float", "default": 1.0, "help": "Multiplies every channel.",
            "min": 0.0, "max": 2.0, "label": "Brightness", "image": False, "infotext": "Brightness"} in solid["options"]
    assert [o["name"] for o in schema["core"]] == ["n", "keep", "seed", "size", "device"]
    assert "redness" in [s["name"] for s in schema["scorers"]]


@pytest.mark.parametrize("fields, field, message", [
    ({"generator.brightness": "5"}, "generator.brightness", "settings: generator.brightness: 5.0 is above the maximum 2.0"),
    ({"generator.bordr": "2"}, "generator.bordr", "settings: unknown option 'generator.bordr'"),
    ({"n": "0"}, "n", "settings: n: 0 is below the minimum 1"),
    ({"size": "30x30"}, "size", "size 30x30: solid needs multiples of 8"),
    ({"scorer": "redness", "scorer.scale": "big"}, "scorer.scale", "settings: scorer.scale: expected float, got str 'big'"),
])
def test_a_bad_value_gets_the_clis_one_line_error_naming_its_field(client, out, fields, field, message):
    response = post(client, "/api/generate", {"prompt": "red", "fields": {"generator": "solid", **fields}})
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["error"].startswith("artengine: error: " + message)
    assert not out.exists() or not any(out.iterdir()), "a refused request makes no run folder"


def test_a_run_from_the_ui_is_the_clis_run_folder_and_reproduces(client, out, cli):
    response = post(client, "/api/generate", {"prompt": "blue", "fields": {
        "generator": "solid", "n": "2", "seed": "7", "scorer": "redness", "generator.border": "2"}})
    assert response.status_code == 200, response.text
    state = wait_done(client, response.json()["id"])
    assert state["status"] == "complete"
    assert [(i["seed"], i["rank"]) for i in state["images"]] in ([(7, 1), (8, 2)], [(8, 1), (7, 2)])
    run_dir = out / state["run"]
    document = json.loads((run_dir / "run.json").read_text())
    assert document["kind"] == "generate" and document["status"] == "complete"
    assert document["configurations"]["solid"]["generator"] == {"name": "solid", "brightness": 1.0, "border": 2}
    image = run_dir / document["images"][0]["path"]
    assert read_png_metadata(image)["config"]["seed"] == 7
    assert client.get(state["images"][0]["url"]).content == image.read_bytes()
    result = cli("reproduce", image, "--out", out / "again")
    assert result.exit_code == 0 and "identical" in result.output


def test_two_submissions_at_once_get_two_run_folders(client, out):
    form = {"prompt": "red", "fields": {"generator": "solid", "seed": "1"}}
    first, second = (post(client, "/api/generate", form).json()["id"] for _ in range(2))
    runs = {wait_done(client, first)["run"], wait_done(client, second)["run"]}
    assert len(runs) == 2 and all(json.loads((out / r / "run.json").read_text())["status"] == "complete" for r in runs)


def test_the_gallery_lists_runs_newest_first_and_searches_prompts(client, out):
    for prompt in ("red square", "blue circle"):
        wait_done(client, post(client, "/api/generate", {"prompt": prompt, "fields": {"generator": "solid"}}).json()["id"])
        time.sleep(1.1)  # run folders are named by the second
    runs = client.get("/api/runs").json()["runs"]
    assert [r["prompts"] for r in runs] == [["blue circle"], ["red square"]]
    assert [r["prompts"] for r in client.get("/api/runs", params={"q": "RED"}).json()["runs"]] == [["red square"]]
    details = client.get(f"/api/runs/{runs[0]['name']}").json()
    assert details["document"]["status"] == "complete" and len(details["images"]) == 1
    assert client.get("/api/runs/..").status_code == 404


class Grain(artengine.Loss):
    name = "grain"
    description = "A loss with an option of its own (it is only recorded here)."
    options = (artengine.Option("size", int, 2, "Grain size in pixels.", min=1),)

    def __call__(self, images, context):
        return 0.0


class GrainPlugin:
    @staticmethod
    @artengine.hookimpl
    def register_losses(register):
        register(Grain)


def test_a_losss_weight_and_declared_options_are_fields_checked_as_the_cli_checks_them(host, client, out):
    host.add(GrainPlugin, name="grain")
    assert next(l for l in client.get("/api/schema").json()["losses"] if l["name"] == "grain")["options"] == [
        {"name": "size", "type": "int", "default": 2, "help": "Grain size in pixels.", "min": 1, "label": "Size", "image": False}]
    form = {"prompt": "red", "fields": {"generator": "solid", "losses.grain.weight": "0.5", "losses.grain.size": "0"}}
    bad = post(client, "/api/generate", form)
    assert bad.status_code == 400 and bad.json()["field"] == "losses.grain.size"
    assert bad.json()["error"] == "artengine: error: settings: losses.grain.size: 0 is below the minimum 1"
    form["fields"]["losses.grain.size"] = "3"
    state = wait_done(client, post(client, "/api/generate", form).json()["id"])
    document = json.loads((out / state["run"] / "run.json").read_text())
    assert document["configurations"]["solid"]["losses"] == {"grain": {"weight": 0.5, "size": 3}}


def test_compare_writes_the_clis_grid_and_labels(client, out):
    response = post(client, "/api/compare", {"prompt": "red\nblue", "fields": {"seed": "3"}, "configurations": [
        {"fields": {"generator": "solid"}}, {"fields": {"generator": "solid", "generator.border": "4"}}]})
    assert response.status_code == 200, response.text
    state = wait_done(client, response.json()["id"])
    assert state["status"] == "complete" and len(state["images"]) == 4
    document = json.loads((out / state["run"] / "run.json").read_text())
    assert document["kind"] == "compare" and document["labels"] == {"solid": {}, "solid-2": {"border": 4}}
    assert (out / state["run"] / "grid.png").is_file() and state["grid"].endswith("/grid.png")


def test_an_axis_sweeps_a_key_and_its_mistakes_name_the_axes_field(client):
    bad = post(client, "/api/compare", {"prompt": "red", "configurations": [{"fields": {"generator": "solid"}}],
                                        "axes": "generator.brightness"})
    assert bad.status_code == 400 and bad.json()["field"] == "axes"
    good = post(client, "/api/compare", {"prompt": "red", "configurations": [{"fields": {"generator": "solid"}}],
                                         "axes": "generator.brightness=0.5,1.5"})
    state = wait_done(client, good.json()["id"])
    assert sorted({i["configuration"] for i in state["images"]}) == ["solid brightness=0.5", "solid brightness=1.5"]


def test_a_stopped_run_is_interrupted_with_its_images_and_resumes(client, out, monkeypatch):
    monkeypatch.setenv("TEST_STOP_AT_STEP", "3")  # the generator asks to stop at step 3, as the Stop button does
    state = wait_done(client, post(client, "/api/generate", {"prompt": "x", "fields": {
        "generator": "slow", "generator.steps": "10"}}).json()["id"])
    assert state["status"] == "interrupted" and state["images"][0]["interrupted"]
    assert json.loads((out / state["run"] / "run.json").read_text())["status"] == "interrupted"
    monkeypatch.delenv("TEST_STOP_AT_STEP")
    resumed = wait_done(client, post(client, "/api/resume", {"run": state["run"]}).json()["id"])
    assert resumed["status"] == "complete" and resumed["run"] == state["run"]
    assert read_png_metadata(out / state["run"] / Path(resumed["images"][0]["url"]).name)["metadata"]["started_at"] == 3


def test_a_resume_taken_out_of_the_line_lets_go_of_its_run(client, out, monkeypatch):
    monkeypatch.setenv("TEST_STOP_AT_STEP", "3")
    stopped = wait_done(client, post(client, "/api/generate", {"prompt": "x", "fields": {
        "generator": "slow", "device": "cpu"}}).json()["id"])
    monkeypatch.delenv("TEST_STOP_AT_STEP")
    release = threading.Event()
    busy = client.app.state.jobs.submit(QueuedJob("generate", "busy", "cpu", lambda job: release.wait(10)))
    while busy.status != "running":
        time.sleep(0.01)
    waiting = post(client, "/api/resume", {"run": stopped["run"]}).json()
    assert (waiting["status"], waiting["position"]) == ("queued", 1)
    assert "is running already" in post(client, "/api/resume", {"run": stopped["run"]}).json()["error"]
    assert post(client, f"/api/jobs/{waiting['id']}/stop", {}).json()["status"] == "cancelled"
    release.set()
    resumed = wait_done(client, post(client, "/api/resume", {"run": stopped["run"]}).json()["id"])
    assert resumed["status"] == "complete" and resumed["run"] == stopped["run"]


def test_reproduce_from_the_ui_says_identical(client, out):
    first = wait_done(client, post(client, "/api/generate", {"prompt": "green", "fields": {"generator": "solid"}}).json()["id"])
    path = first["images"][0]["url"].removeprefix("/files/")
    again = wait_done(client, post(client, "/api/reproduce", {"path": path}).json()["id"])
    assert again["status"] == "complete" and again["identical"] is True
    assert post(client, "/api/reproduce", {"path": "../etc/passwd"}).status_code == 400


def test_jobs_on_one_device_run_one_at_a_time_in_order_with_their_place_in_line():
    jobs, release, order = Jobs(), threading.Event(), []

    def work(name):
        def run(job):
            order.append(name)
            release.wait(10)
        return run

    first, second, third = (jobs.submit(QueuedJob("generate", n, "cpu", work(n))) for n in "abc")
    other = jobs.submit(QueuedJob("generate", "d", "cuda:0", work("d")))
    time.sleep(0.2)
    assert (first.status, second.status, third.status) == ("running", "queued", "queued")
    assert (jobs.position(second), jobs.position(third)) == (1, 2)
    assert other.status == "running", "another device has its own line"
    jobs.stop(second)
    assert second.status == "cancelled" and jobs.position(third) == 1
    release.set()
    deadline = time.monotonic() + 10
    while third.status != "complete" and time.monotonic() < deadline:
        time.sleep(0.01)
    jobs.stop_all()
    assert third.status == "complete" and sorted(order) == ["a", "c", "d"] and order.index("a") < order.index("c")


@pytest.mark.parametrize("path", ["../secret.txt", "/etc/passwd", "run/../../secret.txt", "link/secret.txt",
                                  "run\\..\\..\\secret.txt", "", "run/"])
def test_only_files_inside_out_are_served(tmp_path, path):
    root = tmp_path / "outputs"
    (root / "run").mkdir(parents=True)
    (root / "run" / "a.png").write_bytes(b"png")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "link").symlink_to(tmp_path)
    assert safe_path(root.resolve(), "run/a.png") == (root / "run" / "a.png").resolve()
    assert safe_path(root.resolve(), path) is None


@pytest.mark.parametrize("url", ["/files/..%2Fsecret.txt", "/files/run%2F..%2F..%2Fsecret.txt", "/files/%2Fetc%2Fpasswd",
                                 "/files/link/secret.txt", "/files/run/%2e%2e/%2e%2e/secret.txt"])
def test_the_server_refuses_paths_out_of_out_even_encoded(tmp_path, url):
    root = tmp_path / "outputs"
    (root / "run").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("secret")
    (root / "link").symlink_to(tmp_path)
    with TestClient(server.create_app(root), base_url=OWN) as client:
        response = client.get(url)
    assert response.status_code == 404 and "secret" not in response.text


def test_basic_auth_guards_every_request(out):
    with TestClient(server.create_app(out, ("me", "pw")), base_url=OWN) as client:
        assert client.get("/").status_code == 401
        assert client.get("/api/runs").headers.get("www-authenticate", "").startswith("Basic")
        wrong = base64.b64encode(b"me:nope").decode()
        assert client.get("/", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
        assert client.get("/", auth=("me", "pw")).status_code == 200


@pytest.mark.parametrize("host, served", [
    ("evil.example:7871", False),  # DNS rebinding: evil.example now resolves to 127.0.0.1
    ("evil.example", False),
    ("127.0.0.1.evil.example", False),
    ("localhost.evil.example:7860", False),
    ("user@localhost:7860", False),
    ("localhost:port", False),
    ("127.0.0.1:7860", True),
    ("localhost:7860", True),
    ("LOCALHOST", True),
    ("[::1]:7860", True),
    ("10.1.2.3:7860", True),  # an address is no name to rebind: the browser connected to it
])
def test_only_the_host_names_the_server_was_started_for_are_served(out, host, served):
    with TestClient(server.create_app(out), base_url=OWN) as client:
        for path in ("/", "/api/runs"):
            response = client.get(path, headers={"Host": host})
            assert response.status_code == (200 if served else 400), (path, response.text)
        if not served:
            assert "does not answer to host" in response.json()["error"] and "runs" not in response.json()


def test_a_wildcard_address_also_answers_to_the_machines_names_and_allowed_ones(out):
    names = server.host_names("0.0.0.0", ("art.example",))
    assert {"127.0.0.1", "localhost", "::1", "art.example", socket.gethostname().lower()} <= names
    with TestClient(server.create_app(out, hosts=names), base_url=OWN) as client:
        assert client.get("/api/runs", headers={"Host": "art.example:7860"}).status_code == 200
        assert client.get("/api/runs", headers={"Host": "evil.example:7860"}).status_code == 400


@pytest.fixture
def waiting_job(client):
    """A job waiting in line behind a busy one: a stop that gets through cancels it."""
    release = threading.Event()
    client.app.state.jobs.submit(QueuedJob("generate", "busy", "cpu", lambda job: release.wait(10)))
    waiting = client.app.state.jobs.submit(QueuedJob("generate", "waiting", "cpu", lambda job: None))
    yield waiting
    release.set()



@pytest.mark.parametrize("headers, status", [
    ({"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403),  # <form enctype=text/plain>
    ({"Origin": "http://evil.example", "Content-Type": "application/json"}, 403),
    ({"Origin": "null", "Content-Type": "application/json"}, 403),  # a sandboxed frame, a data: page
    ({"Origin": "http://127.0.0.1:7860.evil.example", "Content-Type": "application/json"}, 403),
    ({"Referer": "http://evil.example/page", "Content-Type": "application/json"}, 403),
    ({"Origin": OWN, "Content-Type": "text/plain"}, 415),
    ({"Origin": OWN, "Content-Type": "application/x-www-form-urlencoded"}, 415),
    ({"Content-Type": "multipart/form-data; boundary=x"}, 415),
    ({}, 415),
])
def test_another_sites_request_cannot_stop_a_job(client, waiting_job, headers, status):
    response = client.post(f"/api/jobs/{waiting_job.id}/stop", content=b"{}", headers=headers)
    assert response.status_code == status and response.json()["error"].startswith("artengine: error: ")
    assert waiting_job.status == "queued"


@pytest.mark.parametrize("path", ["/api/generate", "/api/compare", "/api/reproduce", "/api/resume"])
def test_another_sites_form_cannot_start_a_job(client, out, path):
    form = json.dumps({"prompt": "red", "fields": {"generator": "solid"}})
    assert client.post(path, content=form, headers={"Origin": "http://evil.example", "Content-Type": "text/plain"}
                       ).status_code == 403
    assert client.post(path, data={"prompt": "red"}).status_code == 415
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("headers", [{"Origin": OWN}, {"Referer": OWN + "/"}, {}])
def test_the_pages_own_json_requests_and_other_clients_are_served(client, waiting_job, headers):
    response = post(client, f"/api/jobs/{waiting_job.id}/stop", {}, headers=headers)
    assert response.status_code == 200 and waiting_job.status == "cancelled"


def send_body(app, chunks, length=None):
    """POST `chunks` (an iterator of bytes) to /api/generate straight through the ASGI app, as
    uvicorn hands a body over; returns (status, bytes the app pulled)."""
    import asyncio

    headers = [(b"host", b"127.0.0.1:7860"), (b"content-type", b"application/json")]
    headers += [(b"content-length", str(length).encode())] if length is not None else []  # else: chunked
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/generate", "raw_path": b"/api/generate", "root_path": "", "query_string": b"",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 7860)}
    pulled, answer = 0, {}

    async def receive():
        nonlocal pulled
        chunk = next(chunks, None)
        pulled += len(chunk or b"")
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message):
        answer.setdefault("status", message.get("status"))

    asyncio.run(app(scope, receive, send))
    return answer["status"], pulled


def test_a_body_over_the_limit_is_refused_before_it_is_held(out):
    app = server.create_app(out)
    chunk = b" " * 65536
    huge = 300_000_000
    assert send_body(app, iter([chunk] * (huge // len(chunk))), length=huge) == (413, 0)  # by its length, unread
    status, pulled = send_body(app, iter([chunk] * (huge // len(chunk))))  # chunked: counted as it arrives
    assert status == 413 and pulled <= server.MAX_BODY + len(chunk)
    assert send_body(app, iter([b"{}"]), length="12abc") == (400, 0)
    form = json.dumps({"prompt": "red", "fields": {"generator": "solid"}}).encode()
    assert send_body(app, iter([form[:9], form[9:]]), length=len(form))[0] == 200
    app.state.jobs.stop_all()


DEEP = b'{"prompt": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"


@pytest.mark.parametrize("path, body, status, field", [
    ("/api/generate", b'"a red circle"', 422, "body"),
    ("/api/generate", b'["a red circle"]', 422, "body"),
    ("/api/generate", b"not json", 400, "body"),
    ("/api/generate", b"\xff\xfe{}", 400, "body"),
    ("/api/generate", DEEP, 400, "body"),
    ("/api/generate", b'{"prompt": null, "fields": {"generator": "solid"}}', 422, "prompt"),  # drew "None"
    ("/api/generate", b'{"prompt": 5}', 422, "prompt"),
    ("/api/generate", b'{"prompt": ["red", "blue"]}', 422, "prompt"),
    ("/api/generate", b'{"prompt": "red", "fields": "solid"}', 422, "fields"),
    ("/api/generate", b'{"prompt": "red", "fields": {"generator": "solid", "n": 2}}', 422, "n"),
    ("/api/generate", b'{"prompt": "red", "fields": {"generator": {"name": "solid"}}}', 422, "generator"),
    ("/api/generate", b'{"prompt": "red", "prompts": ["x"]}', 422, "prompts"),
    ("/api/compare", b'{"prompt": "red", "configurations": "solid"}', 422, "configurations"),
    ("/api/compare", b'{"prompt": "red", "configurations": [5]}', 422, "configurations[0]"),
    ("/api/compare", b'{"prompt": "red", "configurations": [{"fields": {"generator": 1}}]}', 422,
     "configurations[0].fields.generator"),
    ("/api/compare", b'{"prompt": "red", "configurations": [{"name": ["a"]}]}', 422, "configurations[0].name"),
    ("/api/compare", b'{"prompt": "red", "axes": ["generator.border=0,2"]}', 422, "axes"),
    ("/api/reproduce", b'{"path": 5}', 422, "path"),
    ("/api/reproduce", b'{"path": null}', 422, "path"),
    ("/api/reproduce", b'{"path": "' + b"a/" * 3000 + b'"}', 422, "path"),
    ("/api/resume", b'{"run": "' + b"a" * 10_000 + b'"}', 422, "run"),
    ("/api/resume", b'{"run": "' + b"a" * 255 + b'"}', 400, "run"),  # as long as a name can be: no such run
    ("/api/resume", b'{"run": {"name": "x"}}', 422, "run"),
])
def test_a_malformed_body_is_one_line_naming_its_field_never_a_traceback(out, caplog, path, body, status, field):
    with TestClient(server.create_app(out), base_url=OWN, raise_server_exceptions=False) as client:
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["field"]) == (status, field), response.text
    assert response.json()["error"].startswith("artengine: error: ") and "\n" not in response.json()["error"]
    assert not [record for record in caplog.records if record.exc_info or record.levelname == "ERROR"]
    assert not out.exists() or not any(out.iterdir()), "nothing was started"


@pytest.mark.parametrize("url", ["/api/runs/" + "a" * 10_000, "/api/image?path=" + "a/" * 5000, "/files/" + "a" * 10_000])
def test_a_name_too_long_for_a_file_is_not_found(client, url):
    assert client.get(url).status_code == 404


def test_job_ids_cannot_be_guessed(client):
    ids = [post(client, "/api/generate", {"prompt": "red", "fields": {"generator": "solid"}}).json()["id"]
           for _ in range(3)]
    assert len(set(ids)) == 3 and all(len(i) >= 20 and not i.isdigit() for i in ids)


def test_the_page_loads_nothing_from_elsewhere(client):
    page = client.get("/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("/", "/static/app.js", "/static/style.css"):
        text = client.get(name).text
        assert "http://" not in text and "https://" not in text and "//fonts" not in text


@pytest.fixture
def ui_command(host, monkeypatch):
    host.add(ui_plugin, name="ui")
    calls = []
    monkeypatch.setattr(server, "serve", lambda *args: calls.append(args))
    return calls


def test_a_non_local_host_without_auth_warns(cli, ui_command):
    result = cli("ui", "--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == 0 and "artengine: warning: --host 0.0.0.0 serves the UI to other machines" in result.stderr
    assert ui_command == [("0.0.0.0", 0, "outputs", None, None, ())]
    quiet = cli("ui", "--host", "0.0.0.0", "--auth", "me:pw")
    assert "warning" not in quiet.stderr and ui_command[-1][3] == ("me", "pw")


def test_a_malformed_auth_is_a_usage_error(cli, ui_command):
    result = cli("ui", "--auth", "nopassword")
    assert result.exit_code == 2 and "--auth 'nopassword': expected USER:PASS" in result.stderr
    assert ui_command == []


def test_a_run_never_records_the_servers_password(out, monkeypatch):
    from artengine import invocation

    monkeypatch.setattr(invocation, "_args", ["ui", "--out", str(out), "--auth", "alice:s3cr:et"])  # the server's argv
    with TestClient(server.create_app(out, ("alice", "s3cr:et")), base_url=OWN) as client:
        client.auth = ("alice", "s3cr:et")
        state = wait_done(client, post(client, "/api/generate", {"prompt": "red", "fields": {"generator": "solid"}}).json()["id"])
        shown = client.get(f"/api/runs/{state['run']}").text
    assert json.loads((out / state["run"] / "run.json").read_text())["command"] == ["artengine", "ui"]
    files = [path.read_bytes() for path in (out / state["run"]).rglob("*") if path.is_file()]
    assert not any(b"s3cr" in data for data in files) and "s3cr" not in shown
    assert invocation.command_line() == ["artengine", "ui", "--out", str(out), "--auth", "alice:s3cr:et"]


PAUSE = '''
import time
import artengine
from artengine import Candidate, Generator, Option


class Pause(Generator):
    name = "pause"
    description = "Waits `steps` tenths of a second (a job busy for a while)."
    options = (Option("steps", int, 10, "Tenths of a second.", min=1),)

    def generate(self, request, progress):
        from PIL import Image

        for step in range(request.options["steps"]):
            time.sleep(0.1)
            progress(step + 1, request.options["steps"])
        return [Candidate(Image.new("RGB", request.size), seed, {}) for seed in request.seeds]


@artengine.hookimpl
def register_generators(register):
    register(Pause)
'''


def test_ctrl_c_quits_quietly_with_a_browser_watching_a_running_job(tmp_path):
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "pause.py").write_text(PAUSE)
    out = tmp_path / "outputs"
    process = subprocess.Popen([sys.executable, "-m", "artengine", "--plugins-dir", str(tmp_path / "plugins"), "ui",
                                "--port", "0", "--out", str(out)], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "ARTENGINE_LOAD_PLUGINS": "ui,pause"})  # no model code: quick
    try:
        url = re.search(r"http://\S+", process.stderr.readline()).group(0)
        form = json.dumps({"prompt": "busy", "fields": {"generator": "pause", "generator.steps": "600"}}).encode()
        request = urllib.request.Request(url + "api/generate", form, {"Content-Type": "application/json"})
        job = json.loads(urllib.request.urlopen(request, timeout=30).read())
        events = urllib.request.urlopen(f"{url}api/jobs/{job['id']}/events", timeout=30)  # the page's open stream
        while b'"running"' not in events.readline():
            pass
        process.send_signal(signal.SIGINT)
        stderr = process.stderr.read()
        assert process.wait(60) in (0, 130)
    finally:
        process.kill()
    assert "error" not in stderr.lower() and "Traceback" not in stderr, stderr
    assert stderr.strip() == "artengine ui: stopped"
    (run,) = out.iterdir()
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"


def test_a_run_json_that_links_out_of_the_output_folder_is_not_served(client, out, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"prompt": "secret", "images": [], "status": "complete"}))
    run = out / "20260101-000000-linked"
    run.mkdir(parents=True)
    (run / "run.json").symlink_to(secret)
    assert "secret" not in client.get("/api/runs").text
    assert client.get(f"/api/runs/{run.name}").status_code == 404
    assert client.get(f"/files/{run.name}/run.json").status_code == 404
