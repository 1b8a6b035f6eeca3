"""The web UI: `artengine ui` serves one local page whose forms are built from the options
every plugin declares (docs/ui.md).

This module stays light: the server (starlette, uvicorn) is imported only when `ui` runs, so
`artengine --help` does not pay for it.
"""

from __future__ import annotations

import artengine


@artengine.hookimpl
def register_commands(cli):
    from .command import ui

    cli.add_command(ui)
