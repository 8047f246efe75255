"""What an audit is asked to do: frozen settings, read by :func:`faceparity.workflow.run_audit`.

One :class:`AuditRequest` holds everything a ``faceparity audit`` command line says: the
input (one of the ``*Input`` classes, by :class:`InputKind`), the groups, the
:class:`~faceparity.model.config.AuditConfig`, the intervals, the engine, the 1:N audit,
where to write, whether to write the report, the limits to check, and how to print.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from faceparity.accumulate.accumulator import DEFAULT_TAIL_CAPACITY
from faceparity.model.config import AuditConfig, ScoreKind

if TYPE_CHECKING:
    from faceparity.readers.attributes import AttributeSpec
    from faceparity.review.check import Limits
    from faceparity.workflow.images import PipelineRequest

__all__ = [
    "AuditInput",
    "AuditRequest",
    "Backend",
    "BfwInput",
    "BobInput",
    "EmbeddingsInput",
    "EngineChoice",
    "EngineSettings",
    "HistogramInput",
    "IdentificationSettings",
    "ImagesInput",
    "InputKind",
    "IntervalMethod",
    "IntervalSettings",
    "OutputFormat",
    "PairsInput",
    "RfwInput",
]


class InputKind(enum.Enum):
    """What an audit reads."""

    PAIRS = "pairs"
    HISTOGRAM = "histogram"
    BFW = "bfw"
    RFW = "rfw"
    BOB = "bob"
    EMBEDDINGS = "embeddings"
    IMAGES = "images"


class IntervalMethod(enum.Enum):
    """Intervals on every number: the subject bootstrap, closed-form binomial ones, or none."""

    BOOTSTRAP = "bootstrap"
    CLOPPER_PEARSON = "clopper-pearson"
    WILSON = "wilson"
    NONE = "none"


class EngineChoice(enum.Enum):
    """exact: every comparison in memory; stream: histograms and exact tails; auto: by size."""

    AUTO = "auto"
    EXACT = "exact"
    STREAM = "stream"


class Backend(enum.Enum):
    """Where the streaming engine multiplies its blocks."""

    NUMPY = "numpy"
    TORCH = "torch"


class OutputFormat(enum.Enum):
    """What is printed: the tables, or results.json."""

    TABLE = "table"
    JSON = "json"


@dataclass(frozen=True)
class IntervalSettings:
    """Intervals: ``method``, bootstrap ``replicates``, confidence ``level``, ``seed``."""

    method: IntervalMethod = IntervalMethod.BOOTSTRAP
    replicates: int = 1000
    level: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class EngineSettings:
    """How every pair of an embedding table is compared (see :mod:`faceparity.scoring`)."""

    choice: EngineChoice = EngineChoice.AUTO
    max_comparisons: int = 50_000_000
    block_size: int = 4096
    threads: int | None = None
    backend: Backend = Backend.NUMPY
    device: str = "cpu"
    scheduler: str | None = None
    checkpoint: Path | None = None
    tail_capacity: int = DEFAULT_TAIL_CAPACITY

    def __post_init__(self) -> None:
        from faceparity.scoring.engine import check_device

        check_device(self.backend.value, self.device)  # before any input is read


@dataclass(frozen=True)
class IdentificationSettings:
    """The open-set 1:N audit run beside the 1:1 audit of an embedding table."""

    target_fpirs: tuple[float, ...] = (0.01, 0.002)
    gallery_samples: int = 1
    non_mated_fraction: float = 0.3
    rank: int = 1
    split_column: str | None = None


@dataclass(frozen=True)
class PairsInput:
    """A generic pair table, read whole (``stream=False``) or in chunks into histograms.

    ``stream=None`` chooses by size (``faceparity.workflow.audit.streams``): in chunks
    when the table has more than ``auto_rows`` rows, else whole. Streaming keeps the
    subject bootstrap and, without sample ids, loses no check; at 5e6 rows it measured
    9.5 CPU s and 0.8 GB for the defaults against 15.8 CPU s and 1.3 GB whole
    (benchmarks/README.md).
    """

    kind: ClassVar[InputKind] = InputKind.PAIRS
    path: Path
    score: str
    score_kind: ScoreKind
    subjects: tuple[str, str]
    mated: str | None = None
    samples: tuple[str, str] | None = None
    attributes: tuple[AttributeSpec, ...] = ()
    stream: bool | None = False
    chunk_rows: int = 1_000_000
    tail_capacity: int = DEFAULT_TAIL_CAPACITY
    auto_rows: int = 2_000_000


@dataclass(frozen=True)
class HistogramInput:
    """A score histogram (group_a, group_b, mated, score, count)."""

    kind: ClassVar[InputKind] = InputKind.HISTOGRAM
    path: Path
    score_kind: ScoreKind
    tail_capacity: int = DEFAULT_TAIL_CAPACITY


@dataclass(frozen=True)
class BfwInput:
    """The BFW datatable."""

    kind: ClassVar[InputKind] = InputKind.BFW
    path: Path
    score: str
    score_kind: ScoreKind


@dataclass(frozen=True)
class RfwInput:
    """An RFW pair table and its score file."""

    kind: ClassVar[InputKind] = InputKind.RFW
    pairs: Path
    scores: Path
    score: str
    score_kind: ScoreKind


@dataclass(frozen=True)
class BobInput:
    """Bob score files, with an optional table of subject attributes."""

    kind: ClassVar[InputKind] = InputKind.BOB
    path: Path
    score_kind: ScoreKind
    subject_metadata: Path | None = None
    subject_column: str = "subject"
    attributes: tuple[AttributeSpec, ...] = ()


@dataclass(frozen=True)
class EmbeddingsInput:
    """Embeddings with a metadata table, or the output of ``faceparity embed`` (no metadata)."""

    kind: ClassVar[InputKind] = InputKind.EMBEDDINGS
    path: Path
    metadata: Path | None = None
    sample_id: str | None = None
    subject: str | None = None
    attributes: tuple[AttributeSpec, ...] = ()
    engine: EngineSettings = EngineSettings()


@dataclass(frozen=True)
class ImagesInput:
    """Face images and a manifest: the pipeline writes ``embeddings``, then the audit reads it."""

    kind: ClassVar[InputKind] = InputKind.IMAGES
    manifest: Path
    embeddings: Path
    pipeline: PipelineRequest
    attributes: tuple[AttributeSpec, ...] = ()
    engine: EngineSettings = EngineSettings()


AuditInput = (
    PairsInput | HistogramInput | BfwInput | RfwInput | BobInput | EmbeddingsInput | ImagesInput
)


@dataclass(frozen=True)
class AuditRequest:
    """One audit, as a command line states it.

    ``output`` is the directory of results.json (and report.html unless ``report`` is
    False); None writes nothing. ``limits`` are checked against the results (exit 1 on a
    violation). ``identification`` runs the 1:N audit too (embedding inputs only).
    ``command_line`` is the command as given, for the results' test log.
    """

    source: AuditInput
    group_by: tuple[str, ...]
    config: AuditConfig = AuditConfig()
    intervals: IntervalSettings = IntervalSettings()
    identification: IdentificationSettings | None = None
    output: Path | None = None
    report: bool = True
    limits: Limits | None = None
    output_format: OutputFormat = OutputFormat.TABLE
    command_line: str | None = None

    @property
    def kind(self) -> InputKind:
        """What the audit reads."""
        return self.source.kind
