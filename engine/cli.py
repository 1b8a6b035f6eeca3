"""The `artengine` command line: the group (cli_group.py) with the commands of every command
module (cli_*.py), each a thin layer that parses flags, calls the engine and prints.

Nothing here imports torch: `--help`, `plugins` and `list` stay fast.
"""

from __future__ import annotations

from . import cli_config, cli_inspect, cli_rerank, cli_run  # noqa: F401 - importing them adds their commands to `cli`
from .cli_group import cli


def main() -> None:
    cli.main(prog_name="artengine")
