from __future__ import annotations

from pathlib import Path

import pytest

from faceparity.errors import InputError, Location, UsageError
from faceparity.readers.manifest import (
    MSG_ABSOLUTE_PATH,
    MSG_NO_ROOT,
    MSG_NUL_IN_PATH,
    read_manifest,
)


def _manifest(tmp_path: Path, rows: list[str], header: str = "path,subject,sex") -> Path:
    path = tmp_path / "manifest.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_reads_paths_subjects_and_attributes(tmp_path: Path) -> None:
    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    m = read_manifest(_manifest(tmp_path, ["a/1.jpg,s1,F", "a/2.jpg,s1,F", "b.jpg,7,M"]), root=root)
    assert m.paths == ["a/1.jpg", "a/2.jpg", "b.jpg"]
    assert m.files[0] == root.resolve() / "a" / "1.jpg"
    assert m.subject.tolist() == ["s1", "s1", "7"]
    assert m.attributes["sex"].tolist() == ["F", "F", "M"]
    assert len(m) == 3


def test_absolute_path_is_refused_with_its_row(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    with pytest.raises(InputError) as err:
        read_manifest(_manifest(tmp_path, ["a.jpg,s1,F", "/etc/passwd,s2,M"]), root=root)
    assert err.value.location.row == 2
    assert err.value.location.column == "path"
    assert err.value.message == MSG_ABSOLUTE_PATH.format(root=root.resolve(), path="/etc/passwd")


@pytest.mark.parametrize("escape", ["../secret.jpg", "a/../../secret.jpg"])
def test_paths_that_leave_the_root_are_refused(tmp_path: Path, escape: str) -> None:
    root = tmp_path / "images"
    root.mkdir()
    with pytest.raises(InputError) as err:
        read_manifest(_manifest(tmp_path, [f"{escape},s1,F"]), root=root)
    assert err.value.location.row == 1
    assert "expected an image path inside the root" in err.value.message


def test_a_symbolic_link_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"x")
    (root / "link.jpg").symlink_to(outside)
    with pytest.raises(InputError, match="leads to"):
        read_manifest(_manifest(tmp_path, ["link.jpg,s1,F"]), root=root)


def test_the_same_image_twice_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    with pytest.raises(InputError) as err:
        read_manifest(_manifest(tmp_path, ["a.jpg,s1,F", "./a.jpg,s2,F"]), root=root)
    assert err.value.location.row == 2
    assert "rows 1 and 2" in err.value.message


def test_empty_subject_and_missing_column(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    with pytest.raises(InputError) as err:
        read_manifest(_manifest(tmp_path, ["a.jpg,,F"]), root=root)
    assert (err.value.location.row, err.value.location.column) == (1, "subject")
    with pytest.raises(InputError, match="expected a column 'subject'"):
        read_manifest(_manifest(tmp_path, ["a.jpg,F"], header="path,sex"), root=root)


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        read_manifest(_manifest(tmp_path, ["a.jpg,s1,F"]), root=tmp_path / "nowhere")
    assert str(err.value) == MSG_NO_ROOT.format(root=tmp_path / "nowhere")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_path_with_a_nul_character_is_refused_with_its_row(tmp_path: Path, suffix: str) -> None:
    import pandas as pd

    root = tmp_path / "images"
    root.mkdir()
    path = tmp_path / f"manifest{suffix}"
    frame = pd.DataFrame({"path": ["a.jpg", "b\0.jpg"], "subject": ["s1", "s2"]})
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    with pytest.raises(InputError) as err:
        read_manifest(path, root=root)
    assert err.value.location == Location(str(path), 2, "path")
    assert err.value.message == MSG_NUL_IN_PATH.format(path="b\0.jpg")


def test_a_loop_of_symbolic_links_is_an_image_that_cannot_be_read(tmp_path: Path) -> None:
    """Not a manifest error: the image fails to be acquired when it is opened."""
    root = tmp_path / "images"
    root.mkdir()
    (root / "one.jpg").symlink_to(root / "two.jpg")
    (root / "two.jpg").symlink_to(root / "one.jpg")
    (root / "self.jpg").symlink_to(root / "self.jpg")
    m = read_manifest(_manifest(tmp_path, ["one.jpg,s1,F", "self.jpg,s2,M"]), root=root)
    assert all(f.is_relative_to(root.resolve()) for f in m.files)
    assert m.paths == ["one.jpg", "self.jpg"]


def test_directories_and_missing_files_are_left_to_the_pipeline(tmp_path: Path) -> None:
    """Paths inside the root that name no readable file are failures to acquire, later."""
    root = tmp_path / "images"
    (root / "a_directory").mkdir(parents=True)
    m = read_manifest(_manifest(tmp_path, ["a_directory,s1,F", "missing.jpg,s2,M"]), root=root)
    assert m.files == [root.resolve() / "a_directory", root.resolve() / "missing.jpg"]
