"""Writing what a command produces: atomically, or an OutputError (exit 73)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from faceparity.errors import OutputError, UsageError
from faceparity.io import atomic_write_text
from faceparity.results.audit import AuditResult
from faceparity.workflow.progress import Message, silent

__all__ = ["MSG_OVERWRITES", "refuse_overwriting", "write_results", "write_text"]

MSG_OVERWRITES = (
    "{output_name} {output}: is the same file as {input_name} {input}; writing it would "
    "destroy {what}. Choose another path (nothing was written)"
)


def write_text(path: Path, text: str, *, message: Message = silent) -> Path:
    """Write a text output atomically and say so, or raise OutputError (exit 73)."""
    try:
        atomic_write_text(path, text)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    message(f"wrote {path}")
    return path


def write_results(
    result: AuditResult, output: Path, *, report: str | None = None, message: Message = silent
) -> tuple[Path, ...]:
    """Write ``output/results.json`` and, given its text, ``output/report.html``; the paths."""
    path = Path(output) / "results.json"
    try:
        result.write_json(path)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    message(f"wrote {path}")
    if report is None:
        return (path,)
    return path, write_text(Path(output) / "report.html", report, message=message)


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode where both exist, else one path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve(strict=False) == b.resolve(strict=False)


def refuse_overwriting(
    inputs: Mapping[str, Path | None], outputs: Mapping[str, Path | None]
) -> None:
    """Refuse, before any work, an output that is an input or another output of the command.

    Parameters
    ----------
    inputs, outputs : mapping of str to Path or None
        The files a command reads and writes, by the name the user gave them (an
        option or an argument); None entries are ignored. Symbolic and hard links
        to one file count as that file.

    Raises
    ------
    UsageError
        Naming the output, the file it would overwrite, and what would be lost.

    """
    given_outputs = [(name, Path(path)) for name, path in outputs.items() if path is not None]
    for name, path in given_outputs:
        for input_name, source in inputs.items():
            if source is not None and _same_file(path, Path(source)):
                raise UsageError(
                    MSG_OVERWRITES.format(
                        output_name=name,
                        output=path,
                        input_name=f"the input {input_name}",
                        input=source,
                        what="the input",
                    )
                )
    for i, (name, path) in enumerate(given_outputs):
        for other_name, other in given_outputs[i + 1 :]:
            if _same_file(path, other):
                raise UsageError(
                    MSG_OVERWRITES.format(
                        output_name=name,
                        output=path,
                        input_name=f"the output {other_name}",
                        input=other,
                        what="one of the two outputs",
                    )
                )
