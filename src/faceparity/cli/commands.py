"""The ``faceparity`` command group; each command's module is imported when it is called.

Importing the group costs click alone, so that :func:`faceparity.cli.run` watches
Ctrl-C before anything heavy is imported, and ``faceparity --help`` answers at once.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from faceparity._version import __version__
from faceparity.cli.support import StrictGroup, run_program

__all__ = ["COMMANDS", "ProgramGroup", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    "audit": ("faceparity.cli.audit", "audit"),
    "check": ("faceparity.cli.review", "check"),
    "classify": ("faceparity.cli.classify", "classify"),
    "compare": ("faceparity.cli.review", "compare"),
    "composition": ("faceparity.cli.composition", "composition"),
    "demo": ("faceparity.cli.demo", "demo"),
    "embed": ("faceparity.cli.images", "embed"),
    "explain": ("faceparity.cli.explain", "explain"),
    "leaderboard": ("faceparity.cli.leaderboard", "leaderboard"),
    "mitigate": ("faceparity.cli.mitigate", "mitigate"),
    "plan": ("faceparity.cli.plan", "plan"),
    "report": ("faceparity.cli.review", "report"),
    "scenario": ("faceparity.cli.review", "scenario"),
    "simulate": ("faceparity.cli.demo", "simulate"),
    "verify": ("faceparity.cli.images", "verify"),
}
"""Each command's name, module and attribute."""


class ProgramGroup(StrictGroup):
    """The command group: commands loaded on use; called with no arguments, the program.

    ``main()`` (the console script, ``python -m faceparity.cli``) runs the process
    through :func:`~faceparity.cli.support.run_program`; ``main.main(args)`` (as click's
    test runner calls it) runs a command the usual way.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands' names, sorted."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, its module imported now; None for another name."""
        if cmd_name not in COMMANDS:
            return None
        module, name = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run as the program when called with no arguments; else as click does."""
        if args or kwargs:
            return self.main(*args, **kwargs)
        run_program(self)


@click.group(cls=ProgramGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="faceparity")
def main() -> None:
    """Audit demographic differentials of a face recognition system (1:1 verification)."""
