"""A cache of per-image pipeline records, keyed by image content and pipeline, owner-only.

Each image's outcome (its face, quality measures, skin tone and embedding, or the
reason it gave none) is stored under the SHA-256 of the image's bytes joined with the
digest of the pipeline that produced it (detector, its settings, the alignment size,
the model file and its spec). A rerun with the same pipeline skips every image it has
seen, wherever the file has moved; a changed model or detector misses the cache, so a
stale embedding is never reused. Records are committed after every batch, so a run
that is interrupted resumes where it stopped.

The cache holds embeddings, which are biometric data: the file is SQLite, created with
mode ``0600`` (readable and writable by its owner only) inside a directory created
``0700``; existing files are narrowed to those modes when opened.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from faceparity.errors import OutputError

__all__ = ["APPLICATION_ID", "MSG_CACHE_UNUSABLE", "MSG_NOT_A_CACHE", "RecordCache"]

MSG_CACHE_UNUSABLE = "cache {file}: could not be opened as a faceparity cache: {error}"
MSG_NOT_A_CACHE = (
    "cache {file}: expected a faceparity cache (or no file), got another file; "
    "it was left as it was"
)

APPLICATION_ID = 0x46504331
"""SQLite ``application_id`` of a faceparity cache ("FPC1"): other files are never touched."""

_SCHEMA = "CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, record BLOB NOT NULL)"


class RecordCache:
    """Per-image records (opaque bytes) under content-and-pipeline keys.

    Parameters
    ----------
    path : str or path-like
        The SQLite file; created (mode 0600, its directory 0700) when missing.

    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._created: list[Path] = []
        try:
            missing = []
            folder = self.path.parent
            while not folder.exists() and folder != folder.parent:
                missing.append(folder)
                folder = folder.parent
            if missing:
                self.path.parent.mkdir(parents=True, mode=0o700)
                self._created.extend(missing)
            fresh = not self.path.exists() or self.path.stat().st_size == 0
            if not self.path.exists():  # created owner-only before SQLite writes a byte
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                os.close(fd)
                self._created.insert(0, self.path)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            application = self._db.execute("PRAGMA application_id").fetchone()[0]
            if fresh:
                self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self._db.execute(_SCHEMA)
                self._db.commit()
            elif application != APPLICATION_ID:
                self._db.close()
                raise OutputError(MSG_NOT_A_CACHE.format(file=self.path))
            os.chmod(self.path, 0o600)
        except (OSError, sqlite3.Error) as err:
            raise OutputError(MSG_CACHE_UNUSABLE.format(file=self.path, error=err)) from err

    @staticmethod
    def key(image_digest: str, pipeline_digest: str) -> str:
        """The key of an image's record under a pipeline."""
        return f"{image_digest}:{pipeline_digest}"

    def get(self, key: str) -> bytes | None:
        """The record stored under ``key``, if any (safe from any thread)."""
        with self._lock:
            row = self._db.execute("SELECT record FROM records WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Store records and commit (a crash after this keeps them)."""
        rows = list(items)
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?)", rows)
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def discard_if_created(self) -> None:
        """Remove the file (and the folders) this object created, once closed.

        For a run that stops before it stored a record: the empty cache it created is
        not left behind. A cache that existed before is never removed.
        """
        for path in self._created:
            with contextlib.suppress(OSError):
                if path == self.path:
                    path.unlink()
                else:
                    path.rmdir()  # only when empty
        self._created.clear()
