from __future__ import annotations

import stat
from pathlib import Path

from faceparity.pipeline.cache import RecordCache


def test_records_round_trip_and_owner_only_modes(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "records.sqlite"
    cache = RecordCache(path)
    key = RecordCache.key("img", "pipe")
    assert cache.get(key) is None
    cache.put_many([(key, b"record\0bytes")])
    assert cache.get(key) == b"record\0bytes"
    assert len(cache) == 1
    cache.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = RecordCache(path)
    assert again.get(key) == b"record\0bytes"
    again.close()


def test_existing_file_is_narrowed_to_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    RecordCache(path).close()
    path.chmod(0o644)
    RecordCache(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_keys_separate_pipelines(tmp_path: Path) -> None:
    cache = RecordCache(tmp_path / "c.sqlite")
    cache.put_many([(RecordCache.key("img", "a"), b"A")])
    assert cache.get(RecordCache.key("img", "b")) is None
    cache.close()


def test_another_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    import pytest

    from faceparity.errors import OutputError
    from faceparity.pipeline.cache import MSG_NOT_A_CACHE

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    notes.chmod(0o644)
    with pytest.raises(OutputError):
        RecordCache(notes)
    assert notes.read_text() == "my notes"
    assert stat.S_IMODE(notes.stat().st_mode) == 0o644
    import sqlite3

    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(OutputError) as err:
        RecordCache(other)
    assert str(err.value) == MSG_NOT_A_CACHE.format(file=other)


def test_a_cache_created_and_left_empty_is_discarded_with_its_folders(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "records.sqlite"
    cache = RecordCache(path)
    cache.close()
    cache.discard_if_created()
    assert list(tmp_path.iterdir()) == []


def test_a_cache_that_existed_is_never_discarded(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    RecordCache(path).close()
    before = path.read_bytes()
    cache = RecordCache(path)
    cache.close()
    cache.discard_if_created()
    assert path.read_bytes() == before
