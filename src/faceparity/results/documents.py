"""The versions of faceparity's other documents, and the one check of a version.

``results.json`` has its schema in :mod:`faceparity.results.audit`. Three more documents
carry a version so that a reader can refuse what it does not know instead of misreading
it: the JSON of ``faceparity plan`` (a sample-size plan, or with ``--from`` what an
audit's data support), the JSON of ``faceparity scenario`` (a 1:N deployment projected
from cross-group rates), and the schema metadata of the Parquet file ``faceparity
embed`` writes (key ``faceparity``: its ``kind``, ``version`` and the pipeline's
description).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from faceparity.errors import InputError, Location

__all__ = [
    "EMBEDDINGS_KIND",
    "EMBEDDINGS_METADATA_KEY",
    "EMBEDDINGS_READABLE_VERSIONS",
    "EMBEDDINGS_VERSION",
    "PLAN_SCHEMA_VERSION",
    "SCENARIO_SCHEMA_VERSION",
    "check_version",
]

PLAN_SCHEMA_VERSION = "1.0"
"""``schema_version`` of the JSON of ``faceparity plan``."""
SCENARIO_SCHEMA_VERSION = "1.0"
"""``schema_version`` of the JSON of ``faceparity scenario``."""
EMBEDDINGS_METADATA_KEY = b"faceparity"
"""The Parquet schema metadata key of ``faceparity embed``'s output."""
EMBEDDINGS_KIND = "faceparity-embeddings"
"""The ``kind`` under that key."""
EMBEDDINGS_VERSION = 3
"""The ``version`` written under that key (2 added ``subject_ita``, ``subject_ita_band``
and ``duplicate_of``; 3 added ``processing_seconds``)."""
EMBEDDINGS_READABLE_VERSIONS = (1, 2, 3)
"""The versions this reader understands."""


def check_version(
    data: Mapping[str, Any],
    readable: Collection[Any],
    *,
    what: str,
    file: str,
    key: str = "schema_version",
) -> None:
    """Refuse a document whose version this reader does not know.

    Raises
    ------
    InputError
        ``expected <what> <key> 'X', got 'Y'``, naming ``file``.

    Examples
    --------
    >>> check_version({"schema_version": "1.0"}, ["1.0"], what="plan", file="plan.json")

    """
    version = data.get(key)
    if version not in readable or isinstance(version, bool):
        expected = " or ".join(repr(v) for v in readable)
        raise InputError(f"expected {what} {key} {expected}, got {version!r}", Location(file=file))
