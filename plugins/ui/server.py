"""The HTTP side: one static page, a JSON API over the engine's functions, progress as
server-sent events, and the run folders' files (only from inside --out).

Starlette and uvicorn rather than Gradio: docs/ui.md says why.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from artengine import UsageError, get_registry
from artengine.files import read_png_metadata

from . import bodies, gallery, uploads
from .forms import schema
from .guard import AllowedHosts, BodyLimit, SameOrigin, host_names
from .jobs import DONE, Jobs, capture_output, job_state
from .work import compare_job, generate_job, reproduce_job, resume_job

STATIC = Path(__file__).parent / "static"
MAX_BODY = 1_000_000
UPLOAD_BODY = 48_000_000
"""An upload's body: an image of up to about 35 MB, base64-encoded in JSON."""
# The page loads nothing from elsewhere; the browser enforces it too.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def create_app(out: str | Path, credentials: tuple[str, str] | None = None, index: str | Path | None = None,
               hosts: set[str] | None = None) -> Any:
    """The app serving `out`; the gallery searches by CLIP through the search index `index`
    (default: OUT.index, where `artengine index build OUT` puts it) when it exists. It answers
    requests for the host names `hosts` (default: the local ones, see `guard.host_names`)."""
    root = Path(out).resolve()
    root.mkdir(parents=True, exist_ok=True)
    api = Api(root, Path(index).expanduser().resolve() if index else root.with_name(root.name + ".index"))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(api.jobs.stop_all)  # runs are marked interrupted, not left 'running'

    # outermost first: who may ask at all, then from where and how much
    middleware = [
        Middleware(AllowedHosts, names=hosts or host_names("127.0.0.1")),
        *([Middleware(BasicAuth, credentials=credentials)] if credentials else []),
        Middleware(SameOrigin),
        Middleware(BodyLimit, limit=MAX_BODY, larger={"/api/uploads": UPLOAD_BODY}),
    ]
    app = Starlette(routes=api.routes(), lifespan=lifespan, middleware=middleware,
                    exception_handlers={HTTPException: http_error})
    app.state.jobs, app.state.closing = api.jobs, api.closing
    return app


class Api:
    """The page, the JSON API and the files of one output folder `root`."""

    def __init__(self, root: Path, index: Path):
        self.root, self.index, self.jobs = root, index, Jobs()
        self.closing = threading.Event()
        """Set when the server is asked to quit: progress streams end, so the shutdown need not wait for them."""

    def routes(self) -> list[Route]:
        submit = {"generate": generate_job, "compare": compare_job, "reproduce": reproduce_job, "resume": resume_job}
        return [
            Route("/", self.page),
            Route("/static/{name}", self.static),
            Route("/api/schema", self.schema),
            *(Route(f"/api/{name}", self.submitter(name, make), methods=["POST"]) for name, make in submit.items()),
            Route("/api/jobs", self.job_list),
            Route("/api/uploads", self.upload, methods=["POST"]),
            Route("/api/jobs/{id}", self.job),
            Route("/api/jobs/{id}/stop", self.stop, methods=["POST"]),
            Route("/api/jobs/{id}/events", self.events),
            Route("/api/runs", self.runs),
            Route("/api/runs/{name}", self.run),
            Route("/api/image", self.image),
            Route("/files/{path:path}", self.files),
        ]

    async def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    async def static(self, request: Request) -> Response:
        path = gallery.safe_path(STATIC.resolve(), request.path_params["name"])
        return FileResponse(path, headers=PAGE_HEADERS) if path else Response("not found", 404)

    async def schema(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(schema))

    def submitter(self, kind: str, make):
        """The endpoint that starts a job made by `make(form, root, jobs)` from a `kind` form."""

        async def submit(request: Request) -> Response:
            return await self.submit(request, kind, make)

        return submit

    async def submit(self, request: Request, kind: str, make) -> Response:
        try:
            form = bodies.parse(await request.body(), kind)
        except bodies.Invalid as error:
            return JSONResponse({"error": f"artengine: error: {error}", "field": error.field}, error.status)
        fields = [*form.get("fields", {}), "losses", *(key for key in bodies.SHAPES[kind] if key != "fields")]
        output: list[str] = []

        def plan():
            with capture_output(output):  # warnings while planning (a prompt cut to fit) reach the page too
                return make(form, self.root, self.jobs)

        try:
            job = await run_in_threadpool(plan)
            job.output[:0] = output
        except UsageError as error:
            from .settings import usage_error

            return JSONResponse(usage_error(error, fields), 400)
        self.jobs.submit(job)
        return JSONResponse(job_state(self.jobs, job, self.root))

    def find_job(self, request: Request):
        return self.jobs.all.get(request.path_params["id"])

    async def job_list(self, request: Request) -> Response:
        """Every job of this server, newest first: a reloaded page shows them again."""
        return JSONResponse({"jobs": [job_state(self.jobs, job, self.root) for job in self.jobs.listed()]})

    async def upload(self, request: Request) -> Response:
        """An image from the page, kept under OUT/uploads/ (uploads.py)."""
        try:
            form = bodies.parse(await request.body(), "uploads")
            return JSONResponse(await run_in_threadpool(uploads.store, self.root, form.get("data", "")))
        except bodies.Invalid as error:
            return JSONResponse({"error": f"artengine: error: {error}", "field": error.field}, error.status)
        except UsageError as error:
            return JSONResponse({"error": f"artengine: error: {error}", "field": "upload"}, 400)

    async def job(self, request: Request) -> Response:
        job = self.find_job(request)
        return JSONResponse(job_state(self.jobs, job, self.root)) if job else not_found("job")

    async def stop(self, request: Request) -> Response:
        job = self.find_job(request)
        if job is None:
            return not_found("job")
        self.jobs.stop(job)
        return JSONResponse(job_state(self.jobs, job, self.root))

    async def events(self, request: Request) -> Response:
        job = self.find_job(request)
        if job is None:
            return not_found("job")

        async def stream():
            last = None
            while True:
                state = job_state(self.jobs, job, self.root)
                text = json.dumps(state)
                if text != last:
                    yield f"data: {text}\n\n"
                    last = text
                if state["status"] in DONE or self.closing.is_set() or await request.is_disconnected():
                    return
                await asyncio.sleep(0.3)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def runs(self, request: Request) -> Response:
        """A page of the gallery: ?q= searches, ?generator= filters, ?offset=&limit= page."""
        params = request.query_params
        number = lambda key, default: int(params[key]) if params.get(key, "").isdigit() else default  # noqa: E731
        page = gallery.Page(number("offset", 0), min(number("limit", gallery.PAGE), 500), params.get("generator", ""))
        return JSONResponse(await run_in_threadpool(gallery.search, self.root, params.get("q", ""), self.index, page))

    async def run(self, request: Request) -> Response:
        details = await run_in_threadpool(gallery.run_details, self.root, request.path_params["name"])
        return JSONResponse(details) if details else not_found("run")

    async def image(self, request: Request) -> Response:
        """An image's full PNG metadata, and the form settings it was made with."""
        path = gallery.safe_path(self.root, request.query_params.get("path", ""))
        if path is None:
            return not_found("image")
        try:
            record = await run_in_threadpool(read_png_metadata, path)
        except UsageError as error:  # e.g. webui's own PNG: no Generator to reproduce, but its text is PNG Info
            answer = {"error": f"artengine: error: {error}",
                      "parameters": await run_in_threadpool(gallery.parameters_text, path)}
            chosen = request.query_params.get("generator")  # the form's: what PNG Info reads such a text onto
            if answer["parameters"] and chosen:
                with contextlib.suppress(UsageError):
                    answer["record"] = await run_in_threadpool(read_png_metadata, path, chosen)
            return JSONResponse(answer, 400)
        return JSONResponse({"metadata": record})

    async def files(self, request: Request) -> Response:
        path = gallery.safe_path(self.root, request.path_params["path"])
        if path is None:
            return Response("not found", 404)
        return FileResponse(path, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})


async def http_error(request: Request, error: HTTPException) -> Response:
    """Starlette's own refusals (no such route, wrong method, a body too large) as JSON, like ours."""
    return JSONResponse({"error": f"artengine: error: {error.detail}"}, error.status_code, error.headers)


def not_found(what: str) -> Response:
    return JSONResponse({"error": f"no such {what}"}, 404)


class BasicAuth:
    """Every HTTP request must carry the user name and password of --auth."""

    def __init__(self, app, credentials: tuple[str, str]):
        self.app = app
        self.expected = ("%s:%s" % credentials).encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not self._allowed(dict(scope["headers"]).get(b"authorization", b"")):
            response = Response("authentication required", 401, {"WWW-Authenticate": 'Basic realm="artengine"'})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, header: bytes) -> bool:
        scheme, _, value = header.partition(b" ")
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return scheme.lower() == b"basic" and secrets.compare_digest(given, self.expected)


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait from now on, so the printed address works at once
    except OSError as error:
        sock.close()
        raise UsageError(f"--host {host} --port {port}: cannot listen there ({error.strerror or error}); "
                         "pick another --port") from None
    return sock


def serve(host: str, port: int, out: str, credentials: tuple[str, str] | None, index: str | None = None,
          allow_hosts: tuple[str, ...] = ()) -> None:
    get_registry()  # plugins load before the first page, not during it
    app = create_app(out, credentials, index, host_names(host, allow_hosts))
    sock = listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"artengine ui: http://{shown}:{sock.getsockname()[1]}/  (runs in {Path(out).resolve()}; Ctrl-C to quit)",
          file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5, lifespan="on")
    try:
        Server(config, app.state.closing).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C it handled again once it has shut down
        pass
    print("artengine ui: stopped", file=sys.stderr)


class Server(uvicorn.Server):
    """uvicorn's server, telling the app when it is asked to quit (Ctrl-C): an open progress
    stream then ends at once rather than hold the shutdown until it is cancelled (a traceback)."""

    def __init__(self, config: uvicorn.Config, closing: threading.Event):
        super().__init__(config)
        self.closing = closing

    def handle_exit(self, sig, frame) -> None:
        self.closing.set()
        super().handle_exit(sig, frame)
