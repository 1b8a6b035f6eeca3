"""The `artengine` click group: it loads the plugins' commands before resolving one, turns every
error into one line (exit status by kind), and guards stdout. The command modules (cli_*.py)
add their commands to it; cli.py puts them together.

Nothing here imports torch: `--help`, `plugins` and `list` stay fast.
"""

from __future__ import annotations

import errno
import io
import os
import sys
import traceback

import click

from . import __version__, discovery
from .cli_train import trainer_command
from .errors import ArtengineError, printable, quote, watch_ctrl_c
from .invocation import note_arguments
from .registry import Registry
from .safe_io import env_flag


def _is_terminal(stream) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False

DEBUG = {"on": False}  # ARTENGINE_DEBUG or --debug; read when a command starts
MESSAGE_LIMIT = 1000
"""An error line longer than this is cut in the middle: messages quote inputs shortened
(errors.quote), and this is the backstop for any that do not."""


class ArtengineGroup(click.Group):
    """Loads plugins before resolving a command, adds theirs, and turns errors into one line."""

    _printed = 0

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        discovery.host.load(ctx.params.get("plugins_dir") or ())
        commands = discovery.host.commands(taken=set(self.commands), shared=shared_groups)
        for warning in discovery.host.warnings[ArtengineGroup._printed :]:
            click.echo(f"artengine: warning: {warning}", err=True)
        ArtengineGroup._printed = len(discovery.host.warnings)
        return commands

    def list_commands(self, ctx):
        return sorted({*self.commands, *self._plugin_commands(ctx)})

    def get_command(self, ctx, name):
        plugin_commands = self._plugin_commands(ctx)  # every command sees the plugins loaded
        return self.commands.get(name) or plugin_commands.get(name)

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        watch_ctrl_c()
        note_arguments(args)
        stdout = sys.stdout
        sys.stdout = guarded_stdout(stdout)
        try:
            DEBUG["on"] = env_flag("ARTENGINE_DEBUG")
            result = super().main(args, prog_name, standalone_mode=False, **extra)
            _flush_stdout()
            sys.exit(result if isinstance(result, int) else 0)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.ClickException as error:  # usage mistakes click finds: one line, exit 2
            hint = f" (see '{error.ctx.command_path} --help')" if getattr(error, "ctx", None) else ""
            _fail(error.format_message().replace("\n", " ") + hint, error.exit_code)
        except (click.exceptions.Abort, KeyboardInterrupt):
            _fail("aborted", 130)
        except ArtengineError as error:
            _fail(str(error), error.exit_code, error)
        except OSError as error:
            if any(frame.name == "echo" and "click" in frame.filename for frame in traceback.extract_tb(error.__traceback__)):
                silence_stdout()  # printing the command's output is what failed
                _fail(f"cannot write to standard output: {error.strerror or error}", 1, error)
            if error.filename is not None:  # a path the system refused (too long, a loop, no permission, full)
                code = 2 if error.errno in PATH_MISTAKES else 1
                _fail(f"cannot use {quote(os.fsdecode(error.filename))}: {error.strerror or error}", code, error)
            _fail(f"unexpected OSError: {error} (run with --debug for the traceback)", 1, error)
        except Exception as error:  # noqa: BLE001 - a bug still gets one line, --debug shows more
            _fail(f"unexpected {type(error).__name__}: {error} (run with --debug for the traceback)", 1, error)
        finally:
            sys.stdout = stdout


SHARED_GROUPS = {
    "train": "Train models (subcommands come from plugins).",
    "data": "Make or convert datasets (subcommands come from plugins).",
    "eval": "Evaluate generators (subcommands come from plugins).",
}


def shared_groups(registry: Registry) -> dict[str, click.Group]:
    """Fresh groups that several plugins may add subcommands to, e.g. `train vqgan`; `train`
    starts with a command per registered trainer, built from its declarations."""
    groups = {name: click.Group(name, help=text) for name, text in SHARED_GROUPS.items()}
    for name, trainer in registry.items["trainer"].items():
        groups["train"].add_command(trainer_command(name, trainer))
    return groups


PATH_MISTAKES = {errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.ENOENT, errno.EACCES,
                 errno.EPERM, errno.EROFS, errno.EEXIST}
"""Errors of a path the user gave (exit 2); others (a full disk, an I/O error) exit 1."""


class ClosedStdout(io.TextIOBase):
    """What stdout is when the shell closed it (`>&-`): output goes nowhere, and that it was lost
    is said once, in one line, when the command ends."""

    encoding, errors = "utf-8", "strict"
    written = False

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # so that click takes it for the text stream it is
            raise TypeError("write() takes text")
        self.written = self.written or bool(text)
        return len(text)

    def writable(self) -> bool:
        return True


class PrintableStdout:
    """A terminal's stdout with control characters shown as \\xNN escapes: file names, prompts and
    PNG metadata come from anyone, and an escape sequence among them must not drive the terminal."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError("write() takes text")
        return self._stream.write(printable(text))

    def __getattr__(self, name):
        return getattr(self._stream, name)


def guarded_stdout(stream):
    """stdout as the command may use it: a sink when it is closed, control characters escaped on a terminal."""
    if stream is None:
        return ClosedStdout()
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError, OSError):
        terminal = False
    return PrintableStdout(stream) if terminal else stream


def _fail(message: str, code: int, error: BaseException | None = None) -> None:
    if DEBUG["on"] and error is not None:
        traceback.print_exception(error, file=sys.stderr)
    message = " ".join(message.splitlines())
    if _is_terminal(sys.stderr):
        message = printable(message)
    if len(message) > MESSAGE_LIMIT:
        half = MESSAGE_LIMIT // 2
        message = f"{message[:half]} […] {message[-half:]}"
    click.echo(f"artengine: error: {message}", err=True)
    sys.exit(code)


def _flush_stdout() -> None:
    """Flush stdout now, so that a stdout that cannot be written (`> /dev/full`) is one error line
    rather than Python's 'Exception ignored' at exit."""
    if isinstance(sys.stdout, ClosedStdout) and sys.stdout.written:
        _fail("cannot write to standard output: it is closed, so what the command printed is lost "
              "(run it with stdout open, e.g. > FILE)", 1)
    try:
        sys.stdout.flush()
    except OSError as error:
        silence_stdout()
        _fail(f"cannot write to standard output: {error.strerror or error}", 1)


def silence_stdout() -> None:
    """Send the rest of stdout (what is still buffered, too) to the null device: it cannot be
    written, and the error saying so has been or will be printed on stderr."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):  # not a real file (tests)
        pass


@click.group(name="artengine", cls=ArtengineGroup)
@click.version_option(__version__, prog_name="artengine")
@click.option(
    "--plugins-dir",
    multiple=True,
    type=click.Path(),
    help="Load every *.py file in DIR as a plugin (repeatable; also ARTENGINE_PLUGINS_DIR).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "--trust-checkpoints",
    is_flag=True,
    help="Allow checkpoints that can only be read by running their pickled code (only for files you trust).",
)
def cli(plugins_dir, debug, trust_checkpoints):
    """artengine: make images from text with interchangeable generator, scorer and loss plugins."""
    DEBUG["on"] = DEBUG["on"] or debug
    if trust_checkpoints:  # read by artengine.checkpoints wherever a checkpoint is opened
        os.environ["ARTENGINE_TRUST_CHECKPOINTS"] = "1"
