"""Every reader under generated bad input: a FaceparityError naming the file, or a sound result.

A reader given any bytes either raises :class:`~faceparity.errors.FaceparityError`
(InputError naming the file, or UsageError) or returns a result whose arrays agree:
one score, one mated flag, two subject codes and two codes per attribute per
comparison, every score finite, mated exactly when the subjects agree where the
format says so, and every comparison of the file kept or counted in an exclusion.
Never another exception.

Budgets and profiles are those of ``tests/test_fuzz_cli.py`` (``FACEPARITY_FUZZ=long``
for the long run); see ``tests/_fuzz.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from _fuzz import (
    LAYOUTS,
    PAIR_COLUMNS,
    collect_garbage,  # noqa: F401 - an autouse fixture
    digests,
    fuzz,
    mostly,
    pair_rows,
    score_cell,
    table_format,
    workdir,
    write_table,
)
from faceparity.errors import FaceparityError, InputError
from faceparity.model.comparisons import MISSING, ComparisonSet
from faceparity.model.config import ScoreKind
from faceparity.readers import (
    AttributeSpec,
    load_embeddings,
    parse_bins,
    read_bfw,
    read_bob,
    read_histogram,
    read_pairs,
    read_rfw,
)
from faceparity.readers.manifest import read_manifest
from faceparity.readers.pipeline_output import load_pipeline_output
from faceparity.results import read_results
from faceparity.review.check import read_limits

SIM = ScoreKind.SIMILARITY


def outcome(read: Callable[[], Any], *files: Path) -> Any:
    """The reader's result, or None when it raised a FaceparityError naming one of ``files``.

    Inputs must be unchanged either way.
    """
    before = digests(files)
    try:
        return read()
    except InputError as err:
        named = str(err.location.file or "") + str(err)
        assert any(f.name in named for f in files), f"{err} names none of {files}"
        return None
    except FaceparityError:
        return None
    finally:
        assert digests(files) == before


def check_set(cs: ComparisonSet, *, n_rows: int | None, mated_from_subjects: bool) -> None:
    """The arrays of a ComparisonSet agree with each other and with the rows read."""
    n = cs.score.shape[0]
    assert cs.score.dtype == np.float64 and np.isfinite(cs.score).all()
    assert cs.mated.shape == (n,) and cs.mated.dtype == bool
    assert cs.subject.shape == (n, 2)
    assert ((cs.subject >= 0) & (cs.subject < len(cs.subject_ids))).all()
    if mated_from_subjects:
        assert (cs.mated == (cs.subject[:, 0] == cs.subject[:, 1])).all()
    for name, codes in cs.attributes.items():
        assert codes.shape == (n, 2)
        levels = cs.levels[name]
        assert ((codes == MISSING) | ((codes >= 0) & (codes < len(levels)))).all(), name
        assert len(set(levels)) == len(levels), levels
    if cs.sample is not None:
        assert cs.sample.shape == (n, 2)
    for e in cs.exclusions:
        assert e.count > 0 and e.unit in {"comparisons", "samples", "subjects"}
        assert e.scope in {"audit", "groups", "mated"}
    if n_rows is not None:
        dropped = sum(
            e.count for e in cs.exclusions if e.unit == "comparisons" and e.scope == "audit"
        )
        assert n == n_rows - dropped, (n, n_rows, cs.exclusions)


# ---------------------------------------------------------------- any bytes at all

TOKENS = st.sampled_from(
    list(',\t\n\r" 0123456789.-+eEnaiftrux_') + ["é", "\x00", "nan", "inf", "id1", "score"]
)
file_bytes = st.one_of(
    st.binary(max_size=200),
    st.lists(TOKENS, max_size=80).map(lambda t: "".join(t).encode("utf-8")),
    st.sampled_from([b"", b"\n", b"\xef\xbb\xbf", b"PAR1", b"PAR1\x00\x00PAR1", b"\x93NUMPY"]),
)


def _read_any(kind: str, path: Path, d: Path) -> Callable[[], Any]:
    pair_args = {"score": "score", "score_kind": SIM, "subjects": ("id1", "id2")}
    readers: dict[str, Callable[[], Any]] = {
        "pairs": lambda: read_pairs(path, **pair_args, mated="label", samples=("p1", "p2")),
        "bfw": lambda: read_bfw(path, score="senet50", score_kind=SIM),
        "histogram": lambda: read_histogram(path, score_kind=SIM, attribute="sex"),
        "bob": lambda: read_bob(path, score_kind=SIM),
        "rfw-pairs": lambda: read_rfw(path, d / "ok_scores.csv", score_kind=SIM),
        "rfw-scores": lambda: read_rfw(d / "ok_pairs.csv", path, score_kind=SIM),
        "embeddings": lambda: load_embeddings(
            path, metadata=d / "ok_meta.csv", sample_id="sample", subject="subject"
        ),
        "metadata": lambda: load_embeddings(
            d / "ok_emb.npy", metadata=path, sample_id="sample", subject="subject"
        ),
        "manifest": lambda: read_manifest(path, root=d),
        "pipeline": lambda: load_pipeline_output(path),
        "results": lambda: read_results(path),
        "limits": lambda: read_limits(path),
    }
    return readers[kind]


SUFFIXES = {
    "pairs": [".csv", ".tsv", ".parquet"],
    "bfw": [".csv", ".tsv", ".parquet"],
    "histogram": [".csv", ".tsv", ".parquet"],
    "bob": [".txt", ".csv", ""],
    "rfw-pairs": [".csv", ".parquet"],
    "rfw-scores": [".csv", ".parquet"],
    "embeddings": [".npy", ".npz", ".parquet"],
    "metadata": [".csv", ".parquet"],
    "manifest": [".csv", ".parquet"],
    "pipeline": [".parquet"],
    "results": [".json"],
    "limits": [".toml"],
}


def _partners(d: Path) -> None:
    """The well-formed other file of the readers that take two."""
    (d / "ok_scores.csv").write_text("img_1,img_2,dist\nm.0a_0001.jpg,m.0a_0002.jpg,0.3\n")
    (d / "ok_pairs.csv").write_text(
        "img_1,img_2,y_true,segment_1,segment_2\n"
        "m.0a_0001.jpg,m.0a_0002.jpg,1,Male & Asian,Male & Asian\n"
    )
    (d / "ok_meta.csv").write_text("sample,subject\nx0,a\nx1,a\nx2,b\n")
    np.save(d / "ok_emb.npy", np.eye(3))


@fuzz(100)
@given(
    kind=st.sampled_from(sorted(SUFFIXES)),
    data=file_bytes,
    pick=st.integers(0, 2),
)
def test_any_bytes(kind: str, data: bytes, pick: int) -> None:
    with workdir() as d:
        _partners(d)
        suffixes = SUFFIXES[kind]
        path = d / f"input{suffixes[pick % len(suffixes)]}"
        path.write_bytes(data)
        result = outcome(_read_any(kind, path, d), path)
        if isinstance(result, ComparisonSet):
            check_set(result, n_rows=None, mated_from_subjects=kind not in ("pairs", "bfw"))


# ------------------------------------------------------------- structured tables


@fuzz(40)
@given(
    rows=pair_rows(),
    fmt=table_format,
    layout=mostly(st.just("plain"), st.sampled_from(LAYOUTS)),
    with_samples=st.booleans(),
    with_label=st.booleans(),
    shared=st.booleans(),
)
def test_read_pairs(rows, fmt, layout, with_samples, with_label, shared) -> None:
    with workdir() as d:
        path, n_rows = write_table(d / "pairs", PAIR_COLUMNS, rows, fmt=fmt, layout=layout)
        spec = AttributeSpec("sex", ("g1",) if shared else ("g1", "g2"))
        cs = outcome(
            lambda: read_pairs(
                path,
                score="score",
                score_kind=SIM,
                subjects=("id1", "id2"),
                mated="label" if with_label else None,
                samples=("p1", "p2") if with_samples else None,
                attributes=[spec],
            ),
            path,
        )
        if cs is not None:
            check_set(cs, n_rows=n_rows, mated_from_subjects=True)


BFW_COLUMNS = ["fold", "p1", "p2", "label", "id1", "id2", "vgg16", "senet50",
               "a1", "a2", "g1", "g2", "e1", "e2"]  # fmt: skip


@fuzz(30)
@given(
    rows=pair_rows(), fmt=table_format, layout=mostly(st.just("plain"), st.sampled_from(LAYOUTS))
)
def test_read_bfw(rows, fmt, layout) -> None:
    bfw = [
        ["1", p1, p2, label, i1, i2, score, score, "B" + g1, "B" + g2, g1, g2, "B", "B"]
        for i1, i2, p1, p2, label, score, g1, g2 in rows
    ]
    with workdir() as d:
        path, n_rows = write_table(d / "bfw", BFW_COLUMNS, bfw, fmt=fmt, layout=layout)
        cs = outcome(lambda: read_bfw(path, score="senet50", score_kind=SIM), path)
        if cs is not None:
            check_set(cs, n_rows=n_rows, mated_from_subjects=True)
            assert set(cs.attributes) == {"sex", "ethnicity", "subgroup"}


@fuzz(40)
@given(
    lines=st.lists(
        st.lists(
            st.sampled_from(["s1", "s2", "s1/a", "s2/b", "nan", "é", "0.5", "-1", "1e309"])
            | score_cell.filter(lambda c: c.strip() == c and c),
            min_size=3,
            max_size=6,
        ),
        max_size=8,
    ),
    sep=st.sampled_from([" ", "\t", "  "]),
    end=st.sampled_from(["\n", "\r\n", "\r"]),
    metadata=st.sampled_from(
        [
            None,
            "subject,sex\ns1,F\ns2,M\n",
            "subject,sex\ns1,F\ns1,M\n",
            "subject\ns1\n",
            "",
            "subject,sex\n,F\n",
        ]
    ),  # fmt: skip
)
def test_read_bob_text(lines, sep, end, metadata) -> None:
    with workdir() as d:
        path = d / "scores.txt"
        path.write_text(end.join(sep.join(x) for x in lines) + end, encoding="utf-8")
        files = [path]
        kwargs: dict[str, Any] = {}
        if metadata is not None:
            meta = d / "subjects.csv"
            meta.write_text(metadata)
            files.append(meta)
            kwargs = {"subject_metadata": meta, "attributes": [AttributeSpec("sex", ("sex",))]}
        cs = outcome(lambda: read_bob(path, score_kind=SIM, **kwargs), *files)
        if cs is not None:
            check_set(cs, n_rows=None, mated_from_subjects=True)
            n_lines = sum(1 for x in lines if x)
            assert cs.score.shape[0] <= n_lines


@fuzz(40)
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from(["m.0a_0001.jpg", "m.0a_0002.jpg", "m.0b_0001.jpg", "x", ""]),
            st.sampled_from(["m.0a_0002.jpg", "m.0b_0001.jpg", "m.0b_0002.jpg", "d/m.0c_1.png"]),
            st.sampled_from(["0", "1", "", "2"]),
            st.sampled_from(["Male & Asian", "Female & Indian", "", "Male", "&"]),
        ),
        max_size=8,
    ),
    scores=st.lists(
        st.tuples(
            st.sampled_from(["m.0a_0001.jpg", "m.0a_0002.jpg", "m.0b_0001.jpg", "zz"]),
            st.sampled_from(["m.0a_0002.jpg", "m.0b_0001.jpg", "m.0b_0002.jpg"]),
            score_cell,
        ),
        max_size=8,
    ),
    fmt=table_format,
)
def test_read_rfw(pairs, scores, fmt) -> None:
    with workdir() as d:
        p, n_pairs = write_table(
            d / "pairs",
            ["img_1", "img_2", "y_true", "segment_1", "segment_2"],
            [[a, b, y, s, s] for a, b, y, s in pairs],
            fmt=fmt,
            layout="plain",
        )
        s, _ = write_table(
            d / "scores", ["img_1", "img_2", "dist"], [list(r) for r in scores], fmt=fmt,
            layout="plain",
        )  # fmt: skip
        cs = outcome(lambda: read_rfw(p, s, score_kind=ScoreKind.DISTANCE), p, s)
        if cs is not None:
            check_set(cs, n_rows=None, mated_from_subjects=False)
            left_out = sum(
                e.count for e in cs.exclusions if not e.reason.startswith("score row in")
            )
            assert cs.score.shape[0] == len(pairs) - left_out, cs.exclusions


@fuzz(40)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["F", "M", "", "overall"]),
            st.sampled_from(["F", "M", ""]),
            st.sampled_from(["1", "0", "true", "", "2"]),
            score_cell,
            st.sampled_from(["0", "1", "3", "-1", "1.5", "", str(2**53), str(2**63), "1e400"]),
        ),
        max_size=8,
    ),
    fmt=table_format,
    capacity=st.sampled_from([1, 2, 10**6]),
)
def test_read_histogram(rows, fmt, capacity) -> None:
    with workdir() as d:
        path, _ = write_table(
            d / "hist", ["group_a", "group_b", "mated", "score", "count"],
            [list(r) for r in rows], fmt=fmt, layout="plain",
        )  # fmt: skip
        streamed = outcome(
            lambda: read_histogram(path, score_kind=SIM, attribute="sex", capacity=capacity),
            path,
        )
        if streamed is not None:
            # The counts are checked end to end by test_fuzz_cli.py::test_audit_histogram.
            assert streamed.group_by == ("sex",)
            assert len(set(streamed.groups)) == len(streamed.groups)
            assert streamed.accumulator.n_groups == len(streamed.groups)


@fuzz(50)
@given(
    array=hnp.arrays(
        dtype=st.sampled_from(
            [
                np.float64,
                np.float32,
                np.float16,
                np.int64,
                np.int8,
                np.bool_,
                np.complex128,
                np.uint64,
            ]
        ),  # fmt: skip
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    ),
    fmt=st.sampled_from(["npy", "npz", "npz-other"]),
    n_meta=st.integers(0, 5),
)
def test_load_embeddings_arrays(array, fmt, n_meta) -> None:
    with workdir() as d:
        meta = d / "meta.csv"
        pd.DataFrame(
            {
                "sample": [f"x{i}" for i in range(n_meta)],
                "subject": [f"s{i % 2}" for i in range(n_meta)],
            }
        ).to_csv(meta, index=False)
        if fmt == "npy":
            path = d / "emb.npy"
            np.save(path, array)
        else:
            path = d / "emb.npz"
            ids = np.array([f"x{i}" for i in range(array.shape[0] if array.ndim else 1)])
            if fmt == "npz":
                np.savez(path, embeddings=array, sample_id=ids)
            else:
                np.savez(path, embeddings=array)
        table = outcome(
            lambda: load_embeddings(path, metadata=meta, sample_id="sample", subject="subject"),
            path,
            meta,
        )
        if table is not None:
            values = np.asarray(table.values)
            assert values.ndim == 2 and np.isfinite(values).all()


@fuzz(30)
@given(
    vectors=st.lists(
        st.one_of(
            st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=3),
            st.none(),
        ),
        max_size=5,
    ),
    ids=st.lists(st.sampled_from(["x0", "x1", "x2", "", None]), min_size=0, max_size=5),
)
def test_load_embeddings_parquet(vectors, ids) -> None:
    n = min(len(vectors), len(ids))
    with workdir() as d:
        path = d / "emb.parquet"
        pq.write_table(
            pa.table({"sample": pa.array(ids[:n], pa.string()),
                      "embedding": pa.array(vectors[:n], pa.list_(pa.float64()))}),
            path,
        )  # fmt: skip
        meta = d / "meta.csv"
        meta.write_text("sample,subject\nx0,a\nx1,a\nx2,b\n")
        table = outcome(
            lambda: load_embeddings(path, metadata=meta, sample_id="sample", subject="subject"),
            path,
            meta,
        )
        if table is not None:
            assert np.isfinite(np.asarray(table.values)).all()


@fuzz(60)
@given(text=st.text(st.sampled_from(list("age=,.0123456789-+eEnaif x")), max_size=20))
def test_parse_bins_and_attribute_specs(text: str) -> None:
    try:
        name, edges = parse_bins(text)
    except FaceparityError:
        pass
    else:
        assert name and edges
        try:
            spec = AttributeSpec(name, ("c",), edges)
        except FaceparityError:
            assert not all(np.isfinite(edges)) or list(edges) != sorted(set(edges))
        else:
            assert list(spec.bins or ()) == sorted(set(edges))
    try:
        spec = AttributeSpec.parse(text)
    except FaceparityError:
        pass
    else:
        assert spec.name and 1 <= len(spec.columns) <= 2 and all(spec.columns)
