"""Published models into the local cache, verified before anything reads them.

A published model is one entry of a plugin's table (its loader's `published`), made of parts:

    {"repo": "ORG/NAME", "revision": "main", "files": [...] or {LOCAL: REMOTE}, "skip": [...],
     "folder": "SUBFOLDER"}                  files of a Hugging Face Hub repository
    {"urls": {LOCAL: URL}, "sha256": {LOCAL: HEX}, "size": {LOCAL: BYTES}}   plain HTTPS files

`files` is a list of fnmatch patterns over the repository's file names (kept under their own
names) or a mapping of local names to the repository's names; `folder` puts a part's files under
a subfolder of the model's folder.

Hub files go into huggingface_hub's own cache layout (`HF_HUB_CACHE`, else `HF_HOME/hub`:
blobs/ named by their etag, snapshots/COMMIT/ pointing at them, refs/), so the Hub's tools see
them; plain-URL files go under `HF_HOME/artengine/downloads/`. Each file is downloaded to
`BLOB.incomplete` (resumed with a Range request when a run was interrupted, through
huggingface_hub's `http_get`, with its progress bar), checked against the size and hash the
source publishes (the Hub's LFS sha256, or its git blob id for small files), and only then
renamed to its final name: a file at its final name has been verified. A file already there
(fetched by another tool) is hashed once before it is used.

The model's folder, `HF_HOME/artengine/models/KIND/NAME/`, links every file under its local name,
and `NAME.json` beside it records each file's size, hash and modification time. A model whose
record matches its files loads from there with no network call at all; without a record it is
fetched, unless `HF_HUB_OFFLINE` is set.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from artengine import UsageError

MANIFEST_VERSION = 1


# -- where things are -------------------------------------------------------------------------


def hf_home() -> Path:
    """huggingface_hub's HF_HOME, read now (its own constants are read once, at import)."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface"
    return Path(os.environ.get("HF_HOME") or default).expanduser()


def hub_cache() -> Path:
    return Path(os.environ.get("HF_HUB_CACHE") or hf_home() / "hub").expanduser()


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def models_root() -> Path:
    return hf_home() / "artengine" / "models"


def model_folder(spec: str) -> Path:
    kind, _, name = spec.partition(":")
    return models_root() / kind / name


def manifest_path(spec: str) -> Path:
    folder = model_folder(spec)
    return folder.with_name(folder.name + ".json")


def repo_cache(repo: str) -> Path:
    return hub_cache() / ("models--" + repo.replace("/", "--"))


# -- one file ---------------------------------------------------------------------------------


@dataclass
class Remote:
    """One file of a published model: where it comes from, what it must be, where it goes."""

    local: str
    url: str
    blob: Path
    size: int | None
    sha256: str | None = None
    git_sha1: str | None = None
    pointer: Path | None = None
    """The Hub snapshot's link to the blob (snapshots/COMMIT/FILE), for Hub files."""
    hub: bool = False


def digest(path: Path, remote: Remote) -> tuple[str, str]:
    """('sha256', hex) or ('git blob id', hex) of the file, whichever the source publishes."""
    if remote.sha256 or not remote.git_sha1:
        hasher, kind = hashlib.sha256(), "sha256"
    else:
        hasher, kind = hashlib.sha1(f"blob {path.stat().st_size}\0".encode()), "git blob id"
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
    return kind, hasher.hexdigest()


def check(path: Path, remote: Remote, spec: str) -> str:
    """The file's sha256 (or git blob id) when it is what the source published; else the file is
    deleted and the message says so."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        path.unlink(missing_ok=True)
        raise UsageError(f"{spec}: {remote.local} is {size:,} bytes, but its source says {remote.size:,}; the "
                         f"download was deleted; run `artengine models pull {spec}` again")
    kind, found = digest(path, remote)
    expected = remote.sha256 if kind == "sha256" else remote.git_sha1
    if expected and found != expected.lower():
        path.unlink(missing_ok=True)
        raise UsageError(f"{spec}: {remote.local} does not match the {kind} its source publishes ({found[:12]}… "
                         f"instead of {expected[:12]}…); the file was deleted; run `artengine models pull {spec}` again")
    return found


def open_partial(path: Path):
    """The partial file, opened to append (a seam for the tests' full disk)."""
    return open(path, "ab")


def download(remote: Remote, spec: str, headers: dict) -> str:
    """Fetch `remote` to its blob path through BLOB.incomplete, verified; returns its hash."""
    from filelock import FileLock
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.file_download import http_get

    remote.blob.parent.mkdir(parents=True, exist_ok=True)
    partial = remote.blob.with_name(remote.blob.name + ".incomplete")
    with FileLock(str(remote.blob) + ".lock"):
        if remote.blob.is_file():  # another process finished it meanwhile, or another tool fetched it
            return check(remote.blob, remote, spec)
        have = partial.stat().st_size if partial.exists() else 0
        if remote.size is not None and have > remote.size:
            partial.unlink()
            have = 0
        if remote.size is not None:
            free = shutil.disk_usage(partial.parent).free
            if free < remote.size - have:
                raise UsageError(f"{spec}: {remote.local} needs {_gb(remote.size - have)} and '{partial.parent}' has "
                                 f"{_gb(free)} free; make room (or point HF_HOME at a larger disk) and pull again")
        try:
            with open_partial(partial) as handle:
                http_get(remote.url, handle, resume_size=have, headers=headers, expected_size=remote.size,
                         displayed_filename=f"{spec} {remote.local}")
        except HfHubHTTPError as error:
            partial.unlink(missing_ok=True)
            status = getattr(getattr(error, "response", None), "status_code", None)
            raise UsageError(f"{spec}: {remote.url} answered {status or 'an error'} "
                             f"({_first_line(error)}); nothing was kept") from None
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                partial.unlink(missing_ok=True)
                raise UsageError(f"{spec}: the disk filled while downloading {remote.local} into '{partial.parent}'; "
                                 "the partial file was deleted; make room and pull again") from None
            if "Consistency check failed" in str(error):  # the server sent another size than it published
                partial.unlink(missing_ok=True)
                raise UsageError(f"{spec}: {remote.url} sent a different number of bytes than its source says "
                                 f"{remote.local} has; nothing was kept; pull again later") from None
            raise _interrupted(remote, partial, spec, error) from None
        except Exception as error:  # noqa: BLE001 - httpx's network errors: keep what came, to resume
            if type(error).__module__.split(".")[0] not in ("httpx", "httpx2", "httpcore"):
                raise
            raise _interrupted(remote, partial, spec, error) from None
        found = check(partial, remote, spec)
        os.replace(partial, remote.blob)
    return found


def _interrupted(remote: Remote, partial: Path, spec: str, error: BaseException) -> UsageError:
    got = partial.stat().st_size if partial.exists() else 0
    of = f" of {remote.size:,}" if remote.size else ""
    return UsageError(f"{spec}: downloading {remote.local} from {remote.url} was cut after {got:,}{of} bytes "
                      f"({_first_line(error)}); run `artengine models pull {spec}` again to resume")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:200]


def _gb(count: int) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e7 else f"{count:,} bytes"


def place(remote: Remote, spec: str, headers: dict) -> str:
    """The file verified at its blob path (downloaded unless already there), linked from its
    Hub snapshot; returns its hash."""
    fresh = not remote.blob.is_file()
    found = download(remote, spec, headers)
    if fresh and not remote.sha256 and not remote.git_sha1:
        from artengine import warn

        warn(f"{spec}: {remote.local}'s source publishes no hash; checked its size, and its sha256 {found} is "
             "recorded and checked from now on")
    if remote.pointer is not None and not remote.pointer.exists():
        remote.pointer.parent.mkdir(parents=True, exist_ok=True)
        link(remote.blob, remote.pointer)
    return found


def link(target: Path, at: Path) -> None:
    """A relative symlink at `at` to `target`, as huggingface_hub makes them; a copy where the
    file system has no symlinks."""
    at.unlink(missing_ok=True)
    try:
        at.symlink_to(os.path.relpath(target, at.parent))
    except OSError:
        shutil.copyfile(target, at)


# -- a model's files --------------------------------------------------------------------------


def plan(spec: str, entry: dict) -> tuple[list[Remote], dict[str, str]]:
    """Every file of the published model `entry`, from its source's metadata (a network call);
    and the commit each Hub repository's revision is at."""
    remotes, commits = [], {}
    for part in entry["parts"]:
        prefix = part.get("folder", "").strip("/")
        if "repo" in part:
            found, commit = _hub_files(spec, part)
            commits[part["repo"]] = commit
        else:
            found = _url_files(part)
        for remote in found:
            remote.local = f"{prefix}/{remote.local}" if prefix else remote.local
            remotes.append(remote)
    return remotes, commits


def _hub_files(spec: str, part: dict) -> tuple[list[Remote], str]:
    from huggingface_hub import HfApi, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    repo, revision = part["repo"], part.get("revision", "main")
    try:
        info = HfApi(endpoint=endpoint()).model_info(repo, revision=revision, files_metadata=True)
    except HfHubHTTPError as error:
        raise UsageError(f"{spec}: the Hub has no {repo} at revision {revision} ({_first_line(error)}); "
                         "is the table entry out of date?") from None
    except Exception as error:  # noqa: BLE001 - no network, DNS, proxy, TLS
        raise not_reachable(spec, endpoint(), error) from None
    siblings = {s.rfilename: s for s in info.siblings or []}
    files = part["files"]
    if isinstance(files, dict):
        wanted = dict(files)
        missing = [name for name in wanted.values() if name not in siblings]
        if missing:
            raise UsageError(f"{spec}: {repo} has no file {missing[0]}; is the table entry out of date?")
    else:
        skip = part.get("skip", ())
        wanted = {name: name for name in sorted(siblings) if any(fnmatch.fnmatch(name, p) for p in files)
                  and not any(fnmatch.fnmatch(name, p) for p in skip)}
        if not wanted:
            raise UsageError(f"{spec}: {repo} has no file matching {', '.join(files)}")
    storage = repo_cache(repo)
    remotes = []
    for local, name in wanted.items():
        sibling = siblings[name]
        lfs = sibling.lfs
        etag = lfs.sha256 if lfs else sibling.blob_id
        if not etag:
            raise UsageError(f"{spec}: the Hub gave no hash for {repo}/{name}, so it cannot be verified")
        remotes.append(Remote(
            local=local, url=hf_hub_url(repo, name, revision=info.sha, endpoint=endpoint()), blob=storage / "blobs" / etag,
            size=lfs.size if lfs else sibling.size, sha256=lfs.sha256 if lfs else None,
            git_sha1=None if lfs else sibling.blob_id, pointer=storage / "snapshots" / info.sha / name, hub=True))
    return remotes, info.sha


def _url_files(part: dict) -> list[Remote]:
    sizes, hashes = part.get("size", {}), part.get("sha256", {})
    remotes = []
    for local, url in part["urls"].items():
        key = hashlib.sha256(url.encode()).hexdigest()[:16]
        blob = hf_home() / "artengine" / "downloads" / key / Path(local).name
        remotes.append(Remote(local=local, url=url, blob=blob, size=sizes.get(local), sha256=hashes.get(local)))
    return remotes


def not_reachable(spec: str, where: str, error: BaseException) -> UsageError:
    return UsageError(f"{spec} is not downloaded and {where} cannot be reached ({_first_line(error)}); run "
                      f"`artengine models pull {spec}` on a machine with internet and copy HF_HOME "
                      f"('{hf_home()}') here, or give the files' folder (docs/models.md)")


def fetch(spec: str, entry: dict, refresh: bool = False) -> Path:
    """The folder of the published model `spec` (KIND:NAME), every file verified.

    A model already fetched and unchanged since loads with no network call; `refresh` (what
    `models pull` does) asks the source again and fetches what changed."""
    if not refresh:
        folder = cached(spec)
        if folder is not None:
            return folder
    if offline():
        raise UsageError(f"{spec} is not downloaded and HF_HUB_OFFLINE is set; run `artengine models pull {spec}` "
                         "where there is internet (or unset HF_HUB_OFFLINE)")
    from huggingface_hub.utils import build_hf_headers

    remotes, commits = plan(spec, entry)
    hub_headers = build_hf_headers()  # the user's token, for gated repositories; never sent elsewhere
    records = {}
    for remote in remotes:
        found = place(remote, spec, hub_headers if remote.hub else {})
        records[remote.local] = {"path": str(remote.blob), "hash": found, "source": remote.url}
    for part in entry["parts"]:
        if "repo" in part and part.get("revision", "main") != commits[part["repo"]]:
            ref = repo_cache(part["repo"]) / "refs" / part.get("revision", "main")
            ref.parent.mkdir(parents=True, exist_ok=True)
            ref.write_text(commits[part["repo"]])
    return write_folder(spec, records, commits)


def write_folder(spec: str, records: dict, commits: dict) -> Path:
    """The model's folder of links and its record, each replaced whole."""
    folder = model_folder(spec)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for local, record in records.items():
        at = staging / local
        at.parent.mkdir(parents=True, exist_ok=True)
        link(Path(record["path"]), at)
        stat = at.stat()  # what `cached` compares: the verified file as the folder shows it
        record.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)
    manifest = manifest_path(spec)
    temporary = manifest.with_name(manifest.name + ".tmp")
    temporary.write_text(json.dumps({"version": MANIFEST_VERSION, "spec": spec, "commits": commits,
                                     "files": records}, indent=2), encoding="utf-8")
    os.replace(temporary, manifest)
    return folder


def read_manifest(spec: str) -> dict | None:
    try:
        manifest = json.loads(manifest_path(spec).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        return None
    return manifest


def cached(spec: str) -> Path | None:
    """The model's folder when its record matches every file (size and modification time as
    verified); None otherwise. Reads no file's contents and makes no network call."""
    manifest = read_manifest(spec)
    if manifest is None:
        return None
    folder = model_folder(spec)
    for local, record in manifest["files"].items():
        try:
            stat = (folder / local).stat()
        except OSError:
            return None
        if stat.st_size != record["size"] or stat.st_mtime_ns != record["mtime_ns"]:
            return None
    return folder


def remove(spec: str, keep: set[str]) -> tuple[int, int]:
    """Delete what `spec` fetched: its folder, its record, and its files that no path in `keep`
    (the files of other fetched models) still needs. Returns (files deleted, bytes freed)."""
    manifest = read_manifest(spec)
    deleted = freed = 0
    for record in (manifest or {}).get("files", {}).values():
        blob = Path(record["path"])
        if str(blob) in keep or not blob.is_file():
            continue
        freed += blob.stat().st_size
        blob.unlink()
        deleted += 1
        storage = _hub_storage(blob)
        if storage is not None:  # the Hub snapshot's links to it
            for pointer in (storage / "snapshots").rglob("*"):
                if pointer.is_symlink() and not pointer.exists():
                    pointer.unlink()
    shutil.rmtree(model_folder(spec), ignore_errors=True)
    manifest_path(spec).unlink(missing_ok=True)
    return deleted, freed


def _hub_storage(blob: Path) -> Path | None:
    return blob.parent.parent if blob.parent.name == "blobs" and blob.parent.parent.name.startswith("models--") else None
