"""A small stand-in for the Hugging Face Hub on 127.0.0.1, for the tests of published models.

It answers what huggingface_hub asks a Hub (`HF_ENDPOINT`):

    GET  /api/models/ORG/NAME/revision/REV     the commit and each file's size, git blob id and,
                                                for LFS files, sha256 (`?blobs=true`)
    HEAD/GET /ORG/NAME/resolve/REV/FILE         the file, with X-Repo-Commit, ETag, X-Linked-Etag,
                                                X-Linked-Size and Range requests
    GET  /files/NAME                            a plain HTTPS-style file (no hash published)

and can misbehave on purpose, once per file name: cut the connection after N bytes, serve
corrupted or short content, or answer 404. `requests` logs what it was asked.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

LFS_SUFFIXES = (".pt", ".bin", ".ckpt", ".safetensors")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict] = {}
        self.urls: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.cut: dict[str, int] = {}
        """file name -> bytes sent before the connection is cut (once)"""
        self.corrupt: set[str] = set()
        self.short: set[str] = set()
        self.missing: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_repo(self, repo: str, files: dict[str, bytes | Path], commit: str | None = None) -> str:
        """Serve `files` (name -> content, or a folder's file) as the repository `repo`."""
        data = {name: (value.read_bytes() if isinstance(value, Path) else value) for name, value in files.items()}
        commit = commit or hashlib.sha1(repr(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in data.items()))
                                        .encode()).hexdigest()
        self.repos[repo] = {"commit": commit, "files": data}
        return commit

    def add_folder(self, repo: str, folder: Path) -> str:
        return self.add_repo(repo, {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()})

    def add_url(self, name: str, data: bytes) -> str:
        self.urls[name] = data
        return f"{self.url}/files/{name}"

    def downloads(self) -> list[tuple[str, str | None]]:
        """(path, range) of every file GET."""
        return [(path, ranged) for method, path, ranged in self.requests if method == "GET" and "/api/" not in path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self.answer(body=False)

        def do_GET(self):
            self.answer(body=True)

        def answer(self, body: bool):
            path = self.path.split("?")[0]
            hub.requests.append((self.command, path, self.headers.get("Range")))
            parts = path.strip("/").split("/")
            if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
                return self.metadata("/".join(parts[2:4]))
            if len(parts) >= 5 and parts[2] == "resolve":
                repo = hub.repos.get("/".join(parts[:2]))
                name = "/".join(parts[4:])
                if repo is None or name not in repo["files"]:
                    return self.fail(404)
                data = repo["files"][name]
                lfs = name.endswith(LFS_SUFFIXES)
                etag = hashlib.sha256(data).hexdigest() if lfs else git_blob_id(data)
                headers = {"X-Repo-Commit": repo["commit"], "ETag": f'"{etag}"', "X-Linked-Size": str(len(data))}
                if lfs:
                    headers["X-Linked-Etag"] = f'"{etag}"'
                return self.send_file(name.rsplit("/", 1)[-1], data, headers, body)
            if parts[0] == "files" and len(parts) == 2 and parts[1] in hub.urls:
                return self.send_file(parts[1], hub.urls[parts[1]], {}, body)
            return self.fail(404)

        def metadata(self, repo_id: str):
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self.fail(404)
            siblings = []
            for name, data in repo["files"].items():
                sibling = {"rfilename": name, "size": len(data), "blobId": git_blob_id(data)}
                if name.endswith(LFS_SUFFIXES):
                    sibling["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
                siblings.append(sibling)
            payload = json.dumps({"id": repo_id, "modelId": repo_id, "sha": repo["commit"], "siblings": siblings}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def send_file(self, name: str, data: bytes, headers: dict, body: bool):
            if name in hub.missing:
                return self.fail(404)
            if name in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            if name in hub.short:
                data = data[: len(data) // 2]
            start = 0
            ranged = self.headers.get("Range")
            if ranged and ranged.startswith("bytes=") and body:
                start = int(ranged[6:].split("-")[0])
            status = 206 if start else 200
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if not body:
                return
            if name in hub.cut:
                self.wfile.write(data[start : start + hub.cut.pop(name)])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(data[start:])

        def fail(self, status: int):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """A fake Hub on 127.0.0.1 as HF_ENDPOINT, and an empty HF_HOME."""
    hub = FakeHub()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for variable in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    yield hub
    hub.stop()


def _loopback(host) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def no_internet(monkeypatch):
    """Any connection (or name lookup) beyond this machine fails, and is recorded."""
    attempts = []
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guard(address):
        host = address[0] if isinstance(address, tuple) else address
        if not _loopback(host):
            attempts.append(address)
            raise OSError(errno.ENETUNREACH, f"test: no internet (connect to {address})")

    def guarded_connect(self, address):
        guard(address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        guard(address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        guard((host.decode() if isinstance(host, bytes) else host, None))
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    return attempts
