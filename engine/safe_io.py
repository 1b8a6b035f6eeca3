"""Reading what a user names or hands over, defensively: files, structured text, environment flags.

Every file a user names (a prompt file, a config, an image, a run.json, a plugin's .py) is read
through `read_user_file`, which refuses anything but a regular file (a FIFO would block forever,
/dev/zero would fill memory) and anything larger than the caller's limit, with one line. JSON
and TOML from users go through `load_json`/`load_toml`, which refuse structures nested deeper
than `MAX_DEPTH` (Python's parsers and everything after them recurse: a deep enough document
ends in RecursionError). Messages quote what they were given through `errors.quote`, short.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from .errors import UsageError, quote

MiB = 1024 * 1024
TEXT_LIMIT = 16 * MiB
"""Prompt files, configs, run.json, plugin sources: far above any real one."""
IMAGE_LIMIT = 512 * MiB
"""Image files: a 8192x8192 PNG at its worst compression is ~200 MiB."""
MAX_DEPTH = 32
"""Tables and arrays inside each other: artengine's own documents use 4."""

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_path(path: str | os.PathLike, what: str) -> Path:
    """`path` as a Path; a NUL byte (which no file name can hold) is a usage error."""
    text = os.fspath(path)
    if "\0" in (text if isinstance(text, str) else text.decode(errors="replace")):
        raise UsageError(f"{what} {quote(text)}: a file name cannot contain a NUL byte")
    return Path(text)


def describe_kind(mode: int) -> str | None:
    """'a FIFO (named pipe)', 'a directory'... for what is not a regular file, else None."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_regular(path: str | os.PathLike, what: str) -> Path:
    """Refuse a missing path or one that is not a regular file, without opening it (for files a
    library opens itself, such as checkpoints)."""
    path = check_path(path, what)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UsageError(f"{what} '{path}' does not exist") from None
    except OSError as error:
        raise UsageError(f"{what} '{path}' cannot be read: {error.strerror or error}") from None
    kind = describe_kind(mode)
    if kind:
        raise UsageError(f"{what} '{path}' is {kind}, not a regular file; give a file")
    return path


def read_user_file(path: str | os.PathLike, what: str, limit: int = TEXT_LIMIT, *, follow: bool = True) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them; UsageError otherwise.

    `what` names the file for the user, e.g. "prompt file". The file is opened without
    blocking (a FIFO with no writer would hang a plain open) and checked on the open handle,
    so it cannot be swapped between the check and the read. With `follow=False` a symbolic
    link is refused rather than followed (see `read_own_file`).
    """
    path = check_path(path, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags if follow else flags | NOFOLLOW)
    except FileNotFoundError:
        raise UsageError(f"{what} '{path}' does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{what} '{path}' is a directory, not a regular file; give a file") from None
    except OSError as error:
        if not follow and error.errno == errno.ELOOP:
            raise UsageError(f"{what} '{path}' is a symbolic link, which artengine does not follow inside "
                             "its own folders; replace it with the file itself") from None
        raise UsageError(f"{what} '{path}' cannot be read: {error.strerror or error}") from None
    try:
        info = os.fstat(fd)
        kind = describe_kind(info.st_mode)
        if kind:
            raise UsageError(f"{what} '{path}' is {kind}, not a regular file; give a file")
        if info.st_size > limit:
            raise UsageError(f"{what} '{path}' is {_size(info.st_size)}, more than the {_size(limit)} allowed")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)  # a file that grows while read is still bounded
    except OSError as error:
        raise UsageError(f"{what} '{path}' cannot be read: {error.strerror or error}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UsageError(f"{what} '{path}' is more than the {_size(limit)} allowed")
    return data


NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def read_own_file(path: str | os.PathLike, what: str, limit: int = TEXT_LIMIT, root: str | os.PathLike | None = None) -> bytes:
    """`read_user_file` for a file inside a folder artengine writes (run.json, a checkpoint's
    state.json, a folder marker): a symbolic link there is refused, never followed, and with
    `root` the folders above the file must resolve inside `root` too, so a planted link cannot
    make artengine read (or, trusting what it read, rewrite) a file elsewhere."""
    path = check_path(path, what)
    if root is not None:
        inside(path, root, what)
    return read_user_file(path, what, limit, follow=False)


def inside(path: str | os.PathLike, root: str | os.PathLike, what: str) -> Path:
    """`path`, after checking that its folder resolves inside `root` (links included)."""
    real_root = os.path.realpath(root)
    if os.path.commonpath([os.path.realpath(Path(path).parent), real_root]) != real_root:
        raise UsageError(f"{what} '{path}' leads outside '{root}' through a symbolic link; "
                         "artengine does not follow links inside its own folders")
    return Path(path)


def read_user_text(path: str | os.PathLike, what: str, limit: int = TEXT_LIMIT, *, follow: bool = True) -> str:
    """`read_user_file` decoded as UTF-8 (a BOM is dropped), or one line saying where it is not."""
    data = read_user_file(path, what, limit, follow=follow)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UsageError(f"{what} '{path}' is not UTF-8 text (byte {error.start + 1}, line {line}); "
                         "save it as UTF-8") from None


def _size(count: int) -> str:
    return f"{count / MiB:.1f} MiB" if count >= MiB else f"{count} bytes"


# -- structured text -------------------------------------------------------------------------


def depth(value: Any) -> int:
    """How deeply dicts and lists nest in `value` (a scalar is 0), without recursing."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, (list, tuple)):
            deepest = max(deepest, level + 1)
            if level + 1 > MAX_DEPTH:
                break
            stack.extend((child, level + 1) for child in item)
    return deepest


def check_depth(value: Any, where: str) -> Any:
    if depth(value) > MAX_DEPTH:
        raise UsageError(f"{where}: tables or arrays are nested more than {MAX_DEPTH} deep")
    return value


def load_json(text: str | bytes, where: str) -> Any:
    """Parse JSON from a user or a file; UsageError for invalid or too deeply nested input."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise UsageError(f"{where}: tables or arrays are nested more than {MAX_DEPTH} deep") from None
    except (ValueError, TypeError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise UsageError(f"{where}: not valid JSON ({str(error)[:200]})") from None
    return check_depth(value, where)


def load_toml(text: str, where: str) -> dict[str, Any]:
    """Parse TOML from a user or a file; UsageError for invalid or too deeply nested input."""
    try:
        value = tomllib.loads(text)
    except RecursionError:
        raise UsageError(f"{where}: tables or arrays are nested more than {MAX_DEPTH} deep") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{where} is not valid TOML: {str(error)[:200]}") from None
    except ValueError:  # an integer past Python's limit on the digits it converts
        raise UsageError(f"{where}: a number has more digits than can be read; give a smaller one") from None
    return check_depth(value, where)


def dump_json(value: Any) -> bytes:
    """UTF-8 JSON of `value`. Strings holding bytes that are not UTF-8 (which the OS hands
    Python as lone surrogates, e.g. in sys.argv) are written as \\u escapes, which read back to
    the same strings: recorded losslessly rather than failing."""
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(value, indent=2, ensure_ascii=True) + "\n").encode("ascii")


# -- environment -----------------------------------------------------------------------------

_TRUE, _FALSE = ("1", "true", "yes", "on", "y", "t"), ("", "0", "false", "no", "off", "n", "f")


def env_flag(name: str) -> bool:
    """A yes/no environment variable: 1/true/yes/on or 0/false/no/off (any case); unset or
    empty is no. Anything else is refused rather than guessed."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f"{name}={quote(os.environ[name])} is not a yes/no value; "
                     "use 1, true, yes or on (or 0, false, no, off)")
