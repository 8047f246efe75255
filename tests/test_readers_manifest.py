from __future__ import annotations

from pathlib import Path

import pytest

from faceparity.errors import InputError, UsageError
from faceparity.readers.manifest import MSG_ABSOLUTE_PATH, MSG_NO_ROOT, read_manifest


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
