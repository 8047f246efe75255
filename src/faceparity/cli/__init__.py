"""The ``faceparity`` command: parse, call the library, print.

No metric is computed here, and no policy is decided: each command builds a request for
the library (:mod:`faceparity.workflow` for the audits) and prints what comes back.
Results go to ``OUTDIR/results.json`` (atomically) and a table to stdout (``--json``
prints the JSON instead); messages go to stderr. The exit codes are in
:mod:`faceparity.cli.support`.

The commands, by family: :mod:`~faceparity.cli.audit` (``audit pairs``, ``histogram``,
``bfw``, ``rfw``, ``bob``, ``embeddings``, ``images``), :mod:`~faceparity.cli.review`
(``report``, ``compare``, ``check``, ``scenario``), :mod:`~faceparity.cli.plan`,
:mod:`~faceparity.cli.images` (``embed``, ``verify``), :mod:`~faceparity.cli.demo`
(``simulate``, ``demo``).
"""

from __future__ import annotations

import click

from faceparity._version import __version__
from faceparity.cli import audit, demo, images, plan, review
from faceparity.cli.support import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_VIOLATIONS,
    StrictGroup,
)

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_VIOLATIONS",
    "main",
]


@click.group(cls=StrictGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="faceparity")
def main() -> None:
    """Audit demographic differentials of a face recognition system (1:1 verification)."""


main.add_command(audit.audit)
main.add_command(demo.simulate)
main.add_command(demo.demo)
main.add_command(review.report)
main.add_command(review.compare)
main.add_command(review.check)
main.add_command(plan.plan)
main.add_command(review.scenario)
main.add_command(images.embed)
main.add_command(images.verify)
