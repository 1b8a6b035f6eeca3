"""The plugin API: every hook artengine calls, in one page.

Implement a hook with ``@artengine.hookimpl`` on a function of the same name; take only the
arguments you need. Each ``register`` call is checked: an object of the wrong kind, or a name
another plugin already registered, drops the registering plugin with a warning naming both
(an error under ``ARTENGINE_STRICT_PLUGINS=1``).
"""

from __future__ import annotations

from typing import Callable

import click
import pluggy

from .interfaces import Dataset, Generator, Loss, ModelLoader, Scorer
from .trainers import Trainer

hookspec = pluggy.HookspecMarker("artengine")
hookimpl = pluggy.HookimplMarker("artengine")


@hookspec
def register_generators(register: Callable[[type[Generator]], None]) -> None:
    """Register generator classes: ``register(MyGenerator)``."""


@hookspec
def register_scorers(register: Callable[[type[Scorer]], None]) -> None:
    """Register scorer classes: ``register(MyScorer)``."""


@hookspec
def register_losses(register: Callable[[type[Loss]], None]) -> None:
    """Register loss classes: ``register(MyLoss)``."""


@hookspec
def register_model_loaders(register: Callable[[ModelLoader], None]) -> None:
    """Register model loader instances: ``register(MyLoader())`` serves ``MyLoader.kind:...`` specs."""


@hookspec
def register_datasets(register: Callable[[type[Dataset]], None]) -> None:
    """Register dataset classes: ``register(MyDataset)`` serves ``--data NAME``."""


@hookspec
def register_trainers(register: Callable[[type[Trainer]], None]) -> None:
    """Register trainer classes: ``register(MyTrainer)`` serves ``artengine train NAME``."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the `artengine` CLI: ``@cli.command()``."""
