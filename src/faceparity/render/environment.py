"""The jinja2 environments of the report templates (package data in ``templates/``).

HTML is rendered with autoescaping on, so every string from the user's data (group
names, attribute values, file names) is escaped; only the charts' SVG, made by
matplotlib (which escapes its text), is marked safe. Markdown has no escaping of its
own and a Markdown viewer passes raw HTML through, so every value printed by a Markdown
template goes through :func:`escape_markdown`.
"""

from __future__ import annotations

import functools
import html
import re
from typing import Any

from faceparity._version import __version__
from faceparity.errors import UsageError

__all__ = ["GENERATOR", "escape_markdown", "template_environment", "warm_templates"]

GENERATOR = f"faceparity {__version__}"

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")

JINJA_HINT = (
    "the report needs jinja2 and matplotlib; install them with "
    "`pip install 'jinja2>=3.1' 'matplotlib>=3.8'` (they are dependencies of faceparity)"
)


def escape_markdown(value: Any) -> str:
    r"""Text safe in Markdown, even in a table cell.

    ``<``, ``>`` and ``&`` become HTML entities (no raw HTML reaches a viewer); the
    characters that make emphasis, code, links and table cells (``\ ` * _ [ ] |``)
    are backslashed; line breaks become spaces.

    Examples
    --------
    >>> print(escape_markdown('<script>alert("x")</script> | a_b'))
    &lt;script&gt;alert("x")&lt;/script&gt; \| a\_b

    """
    if value is None:
        return ""
    text = html.escape(str(value), quote=False)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("\r", " ").replace("\n", " ")


@functools.cache
def template_environment(kind: str) -> Any:
    """A jinja2 environment for ``"html"`` (autoescaped) or ``"md"`` (Markdown-escaped).

    One of each per process: an environment keeps the templates it has compiled, so
    a template is compiled once (:func:`warm_templates` may do it in advance).
    """
    try:
        import jinja2
    except ImportError as err:  # pragma: no cover - jinja2 is a dependency
        raise UsageError(JINJA_HINT) from err
    loader = jinja2.PackageLoader("faceparity.render", "templates")
    if kind == "html":
        return jinja2.Environment(
            loader=loader,
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=False,
            keep_trailing_newline=True,
        )
    if kind == "md":
        return jinja2.Environment(
            loader=loader,
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            finalize=escape_markdown,
            keep_trailing_newline=True,
        )
    raise ValueError(f"kind: expected 'html' or 'md', got {kind!r}")


def warm_templates() -> None:
    """Compile the HTML report's templates now (a command does it while it computes)."""
    template_environment("html").get_template("report.html.j2")
