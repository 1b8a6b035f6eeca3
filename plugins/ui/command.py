"""`artengine ui`: flags -> checks -> the server (imported only now: it needs the `ui` extra)."""

from __future__ import annotations

import click

from artengine import UsageError, warn
from artengine.jobs import CORE_OPTIONS

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
OUT = next(option.default for option in CORE_OPTIONS if option.name == "out")
"""Where `generate` puts its runs unless told: the UI's runs and gallery too."""


def parse_auth(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise UsageError(f"--auth {text!r}: expected USER:PASS, e.g. --auth me:a-long-secret")
    return user, password


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but 127.0.0.1/localhost is reachable from other machines.")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option("--out", default=OUT, show_default=True, help="Folder of run folders: new runs go here, the gallery shows them.")
@click.option("--auth", metavar="USER:PASS", help="Ask every request for this user name and password (HTTP basic auth).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this host name (e.g. a proxy's); others are refused. Repeatable.  "
                   "[default: 127.0.0.1, localhost, ::1, --host, and on 0.0.0.0 this machine's names]")
@click.option("--index", type=click.Path(), help="Search index the gallery searches by CLIP (made by `artengine index "
              "build OUT`).  [default: OUT.index, when it exists; else prompt text is searched]")
def ui(host, port, out, auth, allow_hosts, index):
    """Serve the web UI: generate, stop, compare, browse runs and models in a browser."""
    credentials = parse_auth(auth)
    try:
        from .server import serve
    except ImportError as error:
        raise UsageError(f"the web UI needs its extra: pip install 'artengine[ui]' ({error})") from None
    if host not in LOCAL_HOSTS and credentials is None:
        warn(f"--host {host} serves the UI to other machines without a password; add --auth USER:PASS")
    serve(host, port, out, credentials, index, allow_hosts)
