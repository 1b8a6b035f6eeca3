"""The web UI: `artengine ui` serves one local page whose forms are built from the options
every plugin declares (docs/ui.md).

This module stays light: the server (starlette, uvicorn) is imported only when `ui` runs, so
`artengine --help` does not pay for it.

Unlike other plugins, this one is a client of the CLI's own run functions (`artengine.cli_run`,
`artengine.run`, `artengine.compare`, `artengine.config`), not only of `artengine.__all__`: the UI
must be the same path as the command line, never a second one. A change to those functions'
signatures has to keep plugins/ui/work.py and settings.py in step (tests/test_ui_server.py fails
otherwise).
"""

from __future__ import annotations

import artengine


@artengine.hookimpl
def register_commands(cli):
    from .command import ui

    cli.add_command(ui)
