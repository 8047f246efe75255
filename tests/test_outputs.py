"""workflow/outputs.py: a command's outputs are all moved into place, or none of them.

The command-line cases: report.html that cannot be written (exit 73 and no
results.json), and Ctrl-C between the two files, in a library that swallows it, or in
one that turns it into its own error (exit 130, and a last line that says which).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.errors import OutputError
from faceparity.io import InterruptWatch, watch_interrupts
from faceparity.workflow.outputs import (
    MSG_DIRECTORY_IN_THE_WAY,
    MSG_WRITE_PROTECTED,
    OutputTransaction,
    check_outputs,
)

GOLDEN = Path(__file__).parent / "golden"
AUDIT = [
    "audit",
    "pairs",
    str(GOLDEN / "pairs.csv"),
    "--score",
    "score",
    "--score-kind",
    "similarity",
    "--mated",
    "label",
    "--subjects",
    "id1,id2",
    "--samples",
    "p1,p2",
    "--attribute",
    "sex=g1,g2",
    "--group-by",
    "sex",
    "--fmr",
    "0.2,0.1",
    "--replicates",
    "20",
]
OLD = '{"an earlier": "results.json"}\n'


def _listing(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` (hidden ones too), with the bytes of the files."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


def _audit(out: Path) -> Any:
    return CliRunner().invoke(cli.main, [*AUDIT, "-o", str(out)])


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# --- the transaction --------------------------------------------------------------------


def test_outputs_appear_together_at_the_commit_and_are_announced_in_order(
    tmp_path: Path,
) -> None:
    said: list[str] = []
    with OutputTransaction(message=said.append) as outputs:
        outputs.write_text(tmp_path / "a.txt", "a")
        outputs.write_bytes(tmp_path / "sub" / "b.bin", b"b", mode=0o600)
        assert not (tmp_path / "a.txt").exists() and not (tmp_path / "sub" / "b.bin").exists()
        written = outputs.commit()
    assert written == (tmp_path / "a.txt", tmp_path / "sub" / "b.bin")
    assert said == [f"wrote {tmp_path / 'a.txt'}", f"wrote {tmp_path / 'sub' / 'b.bin'}"]
    assert _listing(tmp_path) == {"a.txt": b"a", "sub": None, "sub/b.bin": b"b"}
    assert (tmp_path / "sub" / "b.bin").stat().st_mode & 0o777 == 0o600


def test_a_block_that_raises_leaves_nothing_and_earlier_files_as_they_were(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.txt").write_text("old")
    before = _listing(tmp_path)
    with pytest.raises(ValueError), OutputTransaction() as outputs:
        outputs.write_text(tmp_path / "a.txt", "new")
        outputs.write_text(tmp_path / "new" / "deeper" / "b.txt", "b")
        raise ValueError("the command failed")
    assert _listing(tmp_path) == before  # the folders it made are gone too


def test_a_block_that_ends_without_commit_writes_nothing(tmp_path: Path) -> None:
    with OutputTransaction() as outputs:
        outputs.write_text(tmp_path / "a.txt", "a")
    assert _listing(tmp_path) == {}


def test_a_rename_that_fails_in_the_commit_takes_back_those_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.txt").write_text("old")
    before = _listing(tmp_path)
    replace = os.replace

    def failing(src: Any, dst: Any) -> None:
        if Path(dst).name == "b.txt":
            raise OSError(28, "No space left on device")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OutputError, match="cannot write .*b.txt: No space left"):
        with OutputTransaction() as outputs:
            outputs.write_text(tmp_path / "a.txt", "new")
            outputs.write_text(tmp_path / "b.txt", "b")
            outputs.commit()
    assert _listing(tmp_path) == before


def test_a_file_placed_early_is_taken_back_on_failure_and_the_old_one_put_back(
    tmp_path: Path,
) -> None:
    (tmp_path / "e.parquet").write_text("old")
    with pytest.raises(RuntimeError), OutputTransaction() as outputs:
        with outputs.path(tmp_path / "e.parquet", mode=0o600, now=True) as tmp:
            tmp.write_text("new")
        with outputs.path(tmp_path / "fresh.parquet", now=True) as tmp:
            tmp.write_text("fresh")
        # what the command reads back is in place, under its own name
        assert (tmp_path / "e.parquet").read_text() == "new"
        assert (tmp_path / "fresh.parquet").read_text() == "fresh"
        raise RuntimeError("the audit failed")
    assert _listing(tmp_path) == {"e.parquet": b"old"}


def test_a_folder_written_by_a_writer_that_takes_a_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("the user's")
    with OutputTransaction() as outputs:
        with outputs.folder(out) as staging:
            (staging / "x.txt").write_text("x")
            (staging / "nested").mkdir()
            (staging / "nested" / "y.txt").write_text("y")
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["mine.txt"]
        outputs.commit()
    assert _listing(out) == {
        "mine.txt": b"the user's",
        "nested": None,
        "nested/y.txt": b"y",
        "x.txt": b"x",
    }


def test_a_directory_in_the_way_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "report.html").mkdir()
    with pytest.raises(OutputError) as info:
        check_outputs([tmp_path / "results.json", tmp_path / "report.html"])
    assert str(info.value) == MSG_DIRECTORY_IN_THE_WAY.format(path=tmp_path / "report.html")


def test_a_write_protected_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text("keep me")
    path.chmod(0o444)
    with pytest.raises(OutputError) as info:
        check_outputs([path])
    assert str(info.value) == MSG_WRITE_PROTECTED.format(path=path)
    with pytest.raises(OutputError), OutputTransaction() as outputs:
        outputs.write_text(path, "new")
    assert path.read_text() == "keep me"


def _sigint_in_a_weakref_callback() -> list[Any]:
    """Deliver SIGINT where CPython cannot raise it: in a weak reference's callback.

    The ``KeyboardInterrupt`` is "ignored" (handed to ``sys.unraisablehook``), as when
    the garbage collector runs such a callback at the moment Ctrl-C arrives.
    """
    swallowed: list[Any] = []

    class Thing:
        pass

    def callback(ref: Any) -> None:
        signal.raise_signal(signal.SIGINT)
        swallowed.append("after the signal")  # the handler runs at this line

    thing = Thing()
    ref = weakref.ref(thing, callback)
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: swallowed.append(unraisable.exc_type)
    try:
        del thing
    finally:
        sys.unraisablehook = hook
    assert ref() is None
    return swallowed


def test_an_interrupt_a_library_swallowed_stops_the_commit(tmp_path: Path) -> None:
    with watch_interrupts() as watch:
        with pytest.raises(KeyboardInterrupt), OutputTransaction() as outputs:
            outputs.write_text(tmp_path / "a.txt", "a")
            assert _sigint_in_a_weakref_callback() == [KeyboardInterrupt]
            outputs.commit()
    assert watch.interrupted
    assert watch.outcome() == "nothing was written"
    assert _listing(tmp_path) == {}


def test_a_ctrl_c_during_the_commit_is_raised_once_every_file_is_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replace = os.replace

    def interrupted(src: Any, dst: Any) -> None:
        if Path(dst).name == "a.txt":
            signal.raise_signal(signal.SIGINT)
        replace(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    with watch_interrupts() as watch:
        with pytest.raises(KeyboardInterrupt), OutputTransaction() as outputs:
            outputs.write_text(tmp_path / "a.txt", "a")
            outputs.write_text(tmp_path / "b.txt", "b")
            outputs.commit()
    assert _listing(tmp_path) == {"a.txt": b"a", "b.txt": b"b"}
    assert watch.outcome() == (
        f"every output was written: {tmp_path / 'a.txt'}, {tmp_path / 'b.txt'}"
    )


def test_without_a_watch_a_ctrl_c_during_the_commit_is_also_put_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replace = os.replace

    def interrupted(src: Any, dst: Any) -> None:
        if Path(dst).name == "a.txt":
            signal.raise_signal(signal.SIGINT)
        replace(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt), OutputTransaction() as outputs:
        outputs.write_text(tmp_path / "a.txt", "a")
        outputs.write_text(tmp_path / "b.txt", "b")
        outputs.commit()
    assert _listing(tmp_path) == {"a.txt": b"a", "b.txt": b"b"}


# --- the command line: report.html that cannot be written --------------------------------


def test_report_html_a_directory_exits_73_and_results_json_stays_as_it_was(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    (out / "report.html").mkdir(parents=True)
    (out / "results.json").write_text(OLD)
    before = _listing(out)
    run = _audit(out)
    assert run.exit_code == 73, run.output
    assert f"cannot write {out / 'report.html'}" in run.stderr
    assert "Traceback" not in run.stderr and "wrote" not in run.stderr
    assert _listing(out) == before


def test_report_html_read_only_exits_73_and_results_json_stays_as_it_was(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(OLD)
    (out / "report.html").write_text("a report the user protected")
    (out / "report.html").chmod(0o444)
    before = _listing(out)
    run = _audit(out)
    assert run.exit_code == 73, run.output
    assert MSG_WRITE_PROTECTED.format(path=out / "report.html") in run.stderr
    assert _listing(out) == before


def test_report_html_that_becomes_a_directory_during_the_run_exits_73_with_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faceparity.render.report as report

    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(OLD)
    render = report.render_html

    def render_then_block(*args: Any, **kwargs: Any) -> str:
        (out / "report.html").mkdir()  # after the check at the start: only the end can tell
        return render(*args, **kwargs)

    monkeypatch.setattr(report, "render_html", render_then_block)
    run = _audit(out)
    assert run.exit_code == 73, run.output
    assert MSG_DIRECTORY_IN_THE_WAY.format(path=out / "report.html") in run.stderr
    assert _last_line(run.stderr) == "nothing was written"
    assert _listing(out) == {"report.html": None, "results.json": OLD.encode()}


# --- the command line: Ctrl-C ---------------------------------------------------------


def _replace_calling(monkeypatch: pytest.MonkeyPatch, name: str, act: Callable[[], None]) -> None:
    """``os.replace`` that calls ``act`` before it renames a file onto ``name``."""
    replace = os.replace

    def patched(src: Any, dst: Any) -> None:
        if Path(dst).name == name:
            act()
        replace(src, dst)

    monkeypatch.setattr(os, "replace", patched)


def _keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def test_keyboard_interrupt_between_results_json_and_report_html_writes_neither(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(OLD)
    _replace_calling(monkeypatch, "report.html", _keyboard_interrupt)
    run = _audit(out)
    assert run.exit_code == 130, run.output
    assert _last_line(run.stderr) == "interrupted; nothing was written"
    assert _listing(out) == {"results.json": OLD.encode()}


def test_ctrl_c_between_results_json_and_report_html_waits_for_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _replace_calling(monkeypatch, "report.html", lambda: signal.raise_signal(signal.SIGINT))
    run = _audit(out)
    assert run.exit_code == 130, run.output
    assert _last_line(run.stderr) == (
        f"interrupted; every output was written: {out / 'results.json'}, {out / 'report.html'}"
    )
    assert sorted(_listing(out)) == ["report.html", "results.json"]


def test_ctrl_c_swallowed_by_a_library_still_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faceparity.verification.audit as verification

    audit = verification.audit
    swallowed: list[Any] = []

    def audit_then_collect_garbage(*args: Any, **kwargs: Any) -> Any:
        result = audit(*args, **kwargs)
        swallowed.extend(_sigint_in_a_weakref_callback())
        return result

    monkeypatch.setattr(verification, "audit", audit_then_collect_garbage)
    out = tmp_path / "out"
    run = _audit(out)
    assert swallowed == [KeyboardInterrupt]  # the run itself never saw the exception
    assert run.exit_code == 130, run.output
    assert _last_line(run.stderr) == "interrupted; nothing was written"
    assert not out.exists()


def test_ctrl_c_a_library_turned_into_its_own_error_is_still_an_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faceparity.render.report as report

    def render_like_matplotlib(*args: Any, **kwargs: Any) -> str:
        try:
            signal.raise_signal(signal.SIGINT)
            return "never"
        except KeyboardInterrupt:
            raise ValueError("Invalid affine transformation matrix") from None

    monkeypatch.setattr(report, "render_html", render_like_matplotlib)
    out = tmp_path / "out"
    run = _audit(out)
    assert run.exit_code == 130, run.output
    assert "internal error" not in run.stderr
    assert _last_line(run.stderr) == "interrupted; nothing was written"
    assert not out.exists()


def test_the_watch_is_gone_after_a_command(tmp_path: Path) -> None:
    handler = signal.getsignal(signal.SIGINT)
    assert _audit(tmp_path / "out").exit_code == 0
    assert signal.getsignal(signal.SIGINT) is handler
    shutil.rmtree(tmp_path / "out")


def test_an_interrupted_streaming_audit_keeps_its_checkpoint_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faceparity.scoring.engine as engine

    save = engine._save

    def save_then_interrupt(*args: Any, **kwargs: Any) -> None:
        save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "_save", save_then_interrupt)
    checkpoint = tmp_path / "ck"
    args = ["audit", "embeddings", str(GOLDEN / "ident_embeddings.npy"), "--metadata"]
    args += [str(GOLDEN / "ident_metadata.csv"), "--sample-id", "sample", "--subject"]
    args += ["subject", "--attribute", "sex=sex", "--group-by", "sex", "--fmr", "0.1"]
    args += ["--intervals", "none"]
    args += ["--engine", "stream", "--checkpoint", str(checkpoint), "-o", str(tmp_path / "o")]
    run = CliRunner().invoke(cli.main, args)
    assert run.exit_code == 130, run.output
    assert _last_line(run.stderr) == (
        f"interrupted; nothing was written but the checkpoint {checkpoint}, "
        "kept for a rerun to resume"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_a_ctrl_c_after_every_output_is_written_is_counted_not_raised(tmp_path: Path) -> None:
    # raised then, it could land in a weak reference's callback: "Exception ignored" and a traceback
    watch = InterruptWatch()
    with pytest.raises(KeyboardInterrupt):
        watch.handler(signal.SIGINT, None)
    watch.written.append(tmp_path / "results.json")
    try:
        watch.handler(signal.SIGINT, None)
    except KeyboardInterrupt:
        pytest.fail("a Ctrl-C after every output was written was raised")
    assert watch.received == 2 and watch.interrupted
    assert watch.outcome().startswith("every output was written")


def test_a_ctrl_c_lost_in_a_weak_reference_callback_is_not_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watch's KeyboardInterrupt can land in a weak reference's callback, where CPython
    prints "Exception ignored" and a traceback: while the watch is installed that one is
    silent (the SIGINT is counted and stops the program later); any other exception still
    goes to the hook that was there before, which is back once the watch ends."""
    seen: list[type[BaseException] | None] = []

    def previous(unraisable: Any) -> None:
        seen.append(unraisable.exc_type)

    monkeypatch.setattr(sys, "unraisablehook", previous)

    class Thing:
        pass

    def lose(error: type[BaseException]) -> None:
        def callback(ref: object) -> None:
            raise error

        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing  # the callback runs now; its exception cannot be raised
        assert ref() is None

    with watch_interrupts() as watch:
        watch.received = 1
        lose(KeyboardInterrupt)
        assert seen == []
        lose(ValueError)
        assert seen == [ValueError]
        with pytest.raises(KeyboardInterrupt):
            watch.check()
    assert sys.unraisablehook is previous
