"""Results for people: terminal tables, the report (HTML and Markdown), diffs and plans.

By audit kind: :mod:`~faceparity.render.verification` (1:1),
:mod:`~faceparity.render.identification` (1:N), :mod:`~faceparity.render.acquisition`
(failures to acquire and enrol); :mod:`~faceparity.render.report` assembles the report
from their sections; :mod:`~faceparity.render.figures` and
:mod:`~faceparity.render.formatting` are shared by all.
"""

from faceparity.render.verification.table import format_table

__all__ = ["format_table"]
