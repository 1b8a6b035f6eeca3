"""What the server refuses before any endpoint runs (docs/ui.md, "Security"): host names it was
not started for (DNS rebinding), state-changing requests from other sites, and bodies over
the limit. Each is a small ASGI middleware, so that no endpoint, present or future, can forget
one.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from .command import LOCAL_HOSTS

WILDCARDS = ("0.0.0.0", "::", "")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def host_names(host: str, extra: tuple[str, ...] = ()) -> set[str]:
    """The names requests may give as their Host: the local ones, `host` (the address listened
    on) and `extra`; on a wildcard address also this machine's own names."""
    names = {*LOCAL_HOSTS, host, *extra}
    if host in WILDCARDS:
        names |= {socket.gethostname(), socket.getfqdn()}
    return {name.lower().strip("[]") for name in names if name not in WILDCARDS}


def host_of(header: str) -> str | None:
    """The host name of a Host header ('[::1]:7860' -> '::1'); None when it is not one."""
    try:
        parts = urlsplit(f"//{header}")
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return None
    return parts.hostname if parts.hostname and not parts.path and not parts.username else None


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": f"artengine: error: {message}"}, status)


class AllowedHosts:
    """Only requests for the host names the server was started for (DNS rebinding: a page on
    evil.example whose name then resolves to 127.0.0.1 sends `Host: evil.example`). An IP
    address is always one: a browser sends it only when it connected to that address, and
    connections arrive only at addresses this server listens on."""

    def __init__(self, app, names: set[str]):
        self.app, self.names = app, names

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            name = host_of(Headers(scope=scope).get("host", ""))
            if name is None or (name not in self.names and not is_ip(name)):
                shown = Headers(scope=scope).get("host", "")[:100]
                response = refuse(400, f"this server does not answer to host {shown!r} (only to the "
                                       "names it was started for: --host, --allow-host NAME)")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SameOrigin:
    """A request that changes something (not GET/HEAD/OPTIONS) must come from the UI's own page:
    its Origin (or, lacking one, its Referer) names this server, and its body is JSON, which an
    HTML form on another site cannot send (fetch from there needs a CORS preflight, never granted)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = Headers(scope=scope)
            source = headers.get("origin") or headers.get("referer")
            if source is not None and not same_host(source, headers.get("host", "")):
                await refuse(403, f"refused a request from another site ({source[:100]})")(scope, receive, send)
                return
            if headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
                await refuse(415, "send application/json")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def same_host(url: str, host: str) -> bool:
    try:
        return urlsplit(url).netloc.lower() == host.lower() != ""
    except ValueError:
        return False


class BodyLimit:
    """Bodies of at most `limit` bytes (`larger[path]` for the paths named there: uploads):
    refused by their Content-Length before a byte is read, and counted as they arrive when they
    have none (chunked), so a huge body is never held."""

    def __init__(self, app, limit: int, larger: dict[str, int] | None = None):
        self.app, self.default, self.larger = app, limit, larger or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.default)
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            status = 413 if length.isdigit() else 400
            await refuse(status, f"request body over {limit} bytes" if status == 413
                         else "a Content-Length that is not a number")(scope, receive, send)
            return
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # answered by the app's handler for HTTPException
                    raise HTTPException(413, f"request body over {limit} bytes")
            return message

        await self.app(scope, counted, send)
