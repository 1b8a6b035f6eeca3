"""The web UI: `artengine ui` serves one local page whose forms are built from the options
every plugin declares (docs/ui.md).

This module stays light: the server (starlette, uvicorn) is imported only when `ui` runs, so
`artengine --help` does not pay for it.

Like every plugin it meets the engine through its public API only; the jobs it runs are
planned and run by the same functions of `artengine.jobs` as the CLI's (`plan_generate`,
`plan_comparison`, `plan_reproduce`, `plan_resume`, `run_job`), so the UI is never a second path.
"""

from __future__ import annotations

import artengine


@artengine.hookimpl
def register_commands(cli):
    from .command import ui

    cli.add_command(ui)
