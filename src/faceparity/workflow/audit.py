"""One audit from a request to its written results: :func:`run_audit`.

The steps, in order: read the input (exact, or streamed into an accumulator), run the
1:N audit when asked (before anything is written), audit every comparison (choosing the
engine for embeddings), add the intervals (the subject bootstrap where the subjects are
kept, else Clopper-Pearson, with a note), add the failures to acquire and enrol of a
pipeline run, check the limits, write results.json and report.html. What the command
line prints on stderr along the way is said through ``message``, in that order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceparity.errors import UsageError
from faceparity.model.config import AuditConfig
from faceparity.results.audit import AuditResult
from faceparity.workflow.outputs import (
    OutputTransaction,
    check_outputs,
    refuse_overwriting,
    write_results,
)
from faceparity.workflow.preload import (
    BOOTSTRAP_KERNELS,
    BOOTSTRAP_MODULES,
    ENGINE_KERNELS,
    REPORT_MODULES,
    preload_stages,
)
from faceparity.workflow.progress import Message, Progress, no_progress, silent
from faceparity.workflow.request import (
    AuditRequest,
    BfwInput,
    BobInput,
    EmbeddingsInput,
    EngineChoice,
    EngineSettings,
    HistogramInput,
    ImagesInput,
    IntervalMethod,
    IntervalSettings,
    OutputFormat,
    PairsInput,
    RfwInput,
)

if TYPE_CHECKING:
    from faceparity.acquisition import AcquisitionResult
    from faceparity.model.comparisons import ComparisonSet
    from faceparity.readers.attributes import AttributeSpec
    from faceparity.readers.embeddings import EmbeddingTable
    from faceparity.results.identification import IdentificationResult
    from faceparity.results.processing import ProcessingTime
    from faceparity.results.testlog import TestLog
    from faceparity.review.check import CheckReport

__all__ = [
    "CSV_BYTES_PER_ROW",
    "MSG_NO_SUBJECTS",
    "AuditOutcome",
    "add_intervals",
    "audit_comparisons",
    "run_audit",
    "streams",
]

MSG_EXACT_ONLY = (
    "these templates are compared by {comparison} distance (their model's convention, "
    "dlib's ResNet); the exact 1:1 audit scores them so, but the streaming engine and the "
    "1:N search compare by cosine: leave out --engine stream, --scheduler and the 1:N "
    "options"
)
MSG_NO_SUBJECTS = (
    "note: the subject bootstrap needs the comparisons with their subjects, which a "
    "streamed or histogram input does not keep; Clopper-Pearson intervals instead "
    "(they treat comparisons as independent, so they are too narrow)"
)


@dataclass(frozen=True)
class AuditOutcome:
    """What an audit gave: the result, the files written, the limits' check, the exit code."""

    result: AuditResult
    written: tuple[Path, ...] = ()
    check: CheckReport | None = None
    output_format: OutputFormat = OutputFormat.TABLE

    @property
    def exit_code(self) -> int:
        """0, or the check's exit code (1) when a limit is violated."""
        return self.check.exit_code if self.check is not None else 0


def add_intervals(
    result: AuditResult,
    intervals: IntervalSettings,
    *,
    comparisons: ComparisonSet | None = None,
    group_by: Sequence[str] | None = None,
    config: AuditConfig | None = None,
    message: Message = silent,
) -> AuditResult:
    """``result`` with intervals and support flags on every number.

    The subject bootstrap needs the ``comparisons`` with their subjects; without them
    (a streamed or histogram input) Clopper-Pearson intervals are used instead, and
    ``message`` says so (:data:`MSG_NO_SUBJECTS`).
    """
    from faceparity.uncertainty.apply import with_uncertainty

    method = intervals.method
    if method is IntervalMethod.BOOTSTRAP and comparisons is None:
        message(MSG_NO_SUBJECTS)
        method = IntervalMethod.CLOPPER_PEARSON
    if method is IntervalMethod.BOOTSTRAP:
        message(f"bootstrapping subjects: {intervals.replicates} replicates ...")
    return with_uncertainty(
        result,
        method=method.value,
        comparisons=comparisons,
        group_by=None if group_by is None else list(group_by),
        config=config,
        replicates=intervals.replicates,
        level=intervals.level,
        seed=intervals.seed,
    )


def audit_comparisons(
    comparisons: ComparisonSet,
    *,
    group_by: Sequence[str],
    config: AuditConfig,
    intervals: IntervalSettings,
    message: Message = silent,
) -> AuditResult:
    """The exact audit of a list of comparisons, with its intervals (:func:`add_intervals`)."""
    from faceparity.verification.audit import audit

    result = audit(comparisons, group_by=list(group_by), config=config)
    return add_intervals(
        result,
        intervals,
        comparisons=comparisons,
        group_by=group_by,
        config=config,
        message=message,
    )


def run_audit(
    request: AuditRequest, *, progress: Progress = no_progress, message: Message = silent
) -> AuditOutcome:
    """Read, audit, add intervals, 1:N and acquisition, check, write: the outcome.

    Parameters
    ----------
    request : AuditRequest
        What to read and what to compute, write and check.
    progress : callable, optional
        Opens a progress display for a unit (a context manager yielding its update).
    message : callable, optional
        Called with every line to tell the user (the command line's stderr).

    Returns
    -------
    AuditOutcome
        The result, the files written, the check of the limits and the exit code.

    """
    inputs, outputs = files(request)
    refuse_overwriting(inputs, outputs)
    check_outputs(path for name, path in outputs.items() if name not in _STORES)
    with OutputTransaction(message=message) as transaction:
        checkpoint = outputs.get("--checkpoint")
        if checkpoint is not None:
            transaction.keep(f"the checkpoint {checkpoint}", path=checkpoint)
        run = _Run(request, progress, message, transaction, inputs)
        result = run.audit()
        return run.finish(result)


_STORES = ("--cache", "--checkpoint")
"""The files of :func:`files` that are persistent stores, not outputs of the transaction."""


def files(request: AuditRequest) -> tuple[dict[str, Path | None], dict[str, Path | None]]:
    """The files an audit reads and those it writes, by the names the command line gives them."""
    source = request.source
    inputs: dict[str, Path | None] = {}
    outputs: dict[str, Path | None] = {}
    if isinstance(source, RfwInput):
        inputs |= {"PAIRS": source.pairs, "SCORES": source.scores}
    elif isinstance(source, ImagesInput):
        from faceparity.workflow.images import cache_path

        models = source.pipeline.models
        inputs |= {
            "MANIFEST": source.manifest,
            "--embedder": models.embedder,
            "--model-spec": models.model_spec,
        }
        outputs["--embeddings"] = source.embeddings
        if not source.pipeline.no_cache:
            outputs["--cache"] = source.pipeline.cache or cache_path(source.embeddings)
    else:
        inputs["PATH"] = source.path
    if isinstance(source, BobInput):
        inputs["--subject-metadata"] = source.subject_metadata
    if isinstance(source, EmbeddingsInput):
        inputs["--metadata"] = source.metadata
    if isinstance(source, EmbeddingsInput | ImagesInput):
        outputs["--checkpoint"] = source.engine.checkpoint
    if request.limits is not None:
        inputs["--check"] = Path(request.limits.file)
    if request.output is not None:
        outputs["-o/--output (results.json)"] = request.output / "results.json"
        if request.report:
            outputs["-o/--output (report.html)"] = request.output / "report.html"
    return inputs, outputs


CSV_BYTES_PER_ROW = 40
"""About how many bytes a row of a CSV or TSV pair table takes, for :func:`streams`."""


def streams(source: PairsInput) -> bool:
    """Whether a pair table is read in chunks (streamed) rather than whole.

    As asked (``source.stream`` True or False), else by size: a table with sample ids
    is read whole (only the whole table finds duplicate comparisons); any other
    streams when it has more than ``source.auto_rows`` rows (a Parquet file's row
    count from its footer; a CSV or TSV file's from its size, at
    :data:`CSV_BYTES_PER_ROW` bytes a row). A file that cannot be sized is read whole
    (whose reader names the problem).
    """
    if source.stream is not None:
        return source.stream
    if source.samples:
        return False
    try:
        if source.path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            rows = int(pq.ParquetFile(source.path).metadata.num_rows)
        else:
            rows = source.path.stat().st_size // CSV_BYTES_PER_ROW
    except Exception:  # noqa: BLE001 - unreadable here: the reader says why
        return False
    return rows > source.auto_rows


class _Run:
    """One audit in progress: the request, how to report, the 1:N and acquisition parts."""

    def __init__(
        self,
        request: AuditRequest,
        progress: Progress,
        message: Message,
        outputs: OutputTransaction,
        inputs: dict[str, Path | None],
    ) -> None:
        from faceparity.workflow.testlog import FileDigests

        self.digests = FileDigests(inputs)  # the test log's hashes, while the run reads
        self.request = request
        self.outputs = outputs
        self.progress = progress
        self.message = message
        self.group_by = list(request.group_by)
        self.identification: IdentificationResult | None = None
        self.acquisition: AcquisitionResult | None = None
        self.processing_time: ProcessingTime | None = None
        # First what the engine and the bootstrap import (numba), and the engine's compiled
        # loops for embeddings (streamed by default); then, while the engine runs, the
        # bootstrap's loops and the report's modules.
        first: tuple[str, ...] = ()
        later: tuple[str, ...] = ()
        if isinstance(request.source, EmbeddingsInput):
            first += ENGINE_KERNELS
        if request.intervals.method is IntervalMethod.BOOTSTRAP:
            first += BOOTSTRAP_MODULES
            later += BOOTSTRAP_KERNELS
        if request.output is not None and request.report:
            later += REPORT_MODULES
        self.first_loaded, self.preloaded = preload_stages(first, later)

    def audit(self) -> AuditResult:
        source = self.request.source
        if isinstance(source, PairsInput):
            return self._pairs(source)
        if isinstance(source, HistogramInput):
            return self._histogram(source)
        if isinstance(source, BfwInput):
            from faceparity.readers.bfw import read_bfw

            return self._exact(
                read_bfw(source.path, score=source.score, score_kind=source.score_kind)
            )
        if isinstance(source, RfwInput):
            from faceparity.readers.rfw import read_rfw

            cs = read_rfw(
                source.pairs, source.scores, score=source.score, score_kind=source.score_kind
            )
            return self._exact(cs)
        if isinstance(source, BobInput):
            from faceparity.readers.bob import read_bob

            cs = read_bob(
                source.path,
                score_kind=source.score_kind,
                subject_metadata=source.subject_metadata,
                subject_column=source.subject_column,
                attributes=list(source.attributes),
            )
            return self._exact(cs)
        if isinstance(source, EmbeddingsInput):
            return self._embeddings(source)
        return self._images(source)

    # --- the inputs ---------------------------------------------------------------------

    def _pairs(self, source: PairsInput) -> AuditResult:
        if not streams(source):
            from faceparity.readers.pairs import read_pairs

            cs = read_pairs(
                source.path,
                score=source.score,
                score_kind=source.score_kind,
                subjects=source.subjects,
                mated=source.mated,
                samples=source.samples,
                attributes=list(source.attributes),
            )
            return self._exact(cs)
        if source.samples:
            raise UsageError(
                "--samples: the streaming engine does not read sample ids (finding a comparison "
                "of two samples made twice needs every pair at once); use --engine exact or "
                "auto"
            )
        from faceparity.readers.pairs_stream import accumulate_pairs

        self.message(
            f"streaming {source.path} in chunks of {source.chunk_rows} rows (two passes) ..."
        )
        streamed = accumulate_pairs(
            source.path,
            score=source.score,
            score_kind=source.score_kind,
            subjects=source.subjects,
            mated=source.mated,
            attributes=list(source.attributes),
            group_by=self.group_by,
            chunk_rows=source.chunk_rows,
            capacity=source.tail_capacity,
            degrees=self.request.intervals.method is IntervalMethod.BOOTSTRAP,
        )
        return self._streamed_pairs(streamed)

    def _streamed_pairs(self, streamed: Any) -> AuditResult:
        """The audit of a streamed pair table, with the subject bootstrap where asked."""
        intervals = self.request.intervals
        if intervals.method is not IntervalMethod.BOOTSTRAP or streamed.degree is None:
            return self._streamed(streamed)
        from faceparity.uncertainty.apply import with_uncertainty
        from faceparity.verification.audit import audit_accumulated

        result = audit_accumulated(
            streamed.accumulator,
            groups=streamed.groups,
            group_by=streamed.group_by,
            population=streamed.population,
            config=self.request.config,
            source=streamed.source,
            exclusions=streamed.exclusions,
            notes=streamed.notes,
            score_kind=streamed.score_kind,
        )
        self.message(f"bootstrapping subjects: {intervals.replicates} replicates ...")
        return with_uncertainty(
            result,
            method=IntervalMethod.BOOTSTRAP.value,
            config=self.request.config,
            accumulator=streamed.accumulator,
            degree=streamed.degree,
            replicates=intervals.replicates,
            level=intervals.level,
            seed=intervals.seed,
        )

    def _histogram(self, source: HistogramInput) -> AuditResult:
        from faceparity.readers.histogram import read_histogram

        if len(self.group_by) != 1:
            raise UsageError(
                "--group-by: a histogram names one attribute (the values in group_a and "
                f"group_b), got {', '.join(self.group_by)}"
            )
        streamed = read_histogram(
            source.path,
            score_kind=source.score_kind,
            attribute=self.group_by[0],
            capacity=source.tail_capacity,
        )
        return self._streamed(streamed)

    def _embeddings(self, source: EmbeddingsInput) -> AuditResult:
        from faceparity.readers.embeddings import load_embeddings
        from faceparity.readers.pipeline_output import is_pipeline_output

        if source.metadata is None and is_pipeline_output(source.path):
            return self._pipeline_output(source.path, source.attributes, source.engine)
        missing = [
            name
            for name, value in (
                ("--metadata", source.metadata),
                ("--sample-id", source.sample_id),
                ("--subject", source.subject),
            )
            if value is None
        ]
        if missing:
            raise UsageError(
                f"{', '.join(missing)}: required for {source.path} (only the output of "
                "`faceparity embed` holds its own metadata)"
            )
        assert source.metadata is not None
        assert source.sample_id is not None and source.subject is not None
        table = load_embeddings(
            source.path,
            metadata=source.metadata,
            sample_id=source.sample_id,
            subject=source.subject,
            attributes=list(source.attributes),
        )
        return self._table(table, source.metadata, source.engine)

    def _images(self, source: ImagesInput) -> AuditResult:
        from faceparity.workflow.images import run_pipeline

        specs, group_by = source.attributes, self.group_by

        def check(manifest: Any) -> None:
            from faceparity.pipeline.run import PIPELINE_COLUMNS

            columns = {*manifest.attributes.columns, *PIPELINE_COLUMNS}
            named = {spec.name for spec in specs}
            unknown = [name for name in group_by if name not in named and name not in columns]
            unknown += [c for spec in specs for c in spec.columns if c not in columns]
            if unknown:
                raise UsageError(
                    f"--group-by / --attribute: {', '.join(unknown)} is neither a column of "
                    f"{manifest.file} nor one the pipeline writes ({', '.join(PIPELINE_COLUMNS)})"
                )

        run_pipeline(
            source.manifest,
            source.embeddings,
            source.pipeline,
            check=check,
            progress=self.progress,
            message=self.message,
            outputs=self.outputs,
        )
        return self._pipeline_output(source.embeddings, specs, source.engine)

    def _pipeline_output(
        self, path: Path, specs: Sequence[AttributeSpec], engine: EngineSettings
    ) -> AuditResult:
        """The enrolled images of a pipeline run, with failures to acquire and enrol by group."""
        from faceparity.acquisition import acquisition_by_group
        from faceparity.readers.pipeline_output import load_pipeline_output

        table, records = load_pipeline_output(
            path, attributes=list(specs), columns_as_attributes=self.group_by
        )
        unknown = [name for name in self.group_by if name not in records.codes]
        if unknown:
            raise UsageError(
                f"--group-by: {', '.join(unknown)} is neither a column of {path} nor an "
                "--attribute NAME=COLUMN"
            )
        intervals = self.request.intervals
        self.acquisition = acquisition_by_group(
            records.status,
            records.reasons,
            records.subject,
            records.codes,
            records.levels,
            self.group_by,
            pipeline=records.description,
            level=intervals.level,
            replicates=intervals.replicates if intervals.method is IntervalMethod.BOOTSTRAP else 0,
            seed=intervals.seed,
            intervals=intervals.method is not IntervalMethod.NONE,
        )
        if records.seconds is not None:
            from faceparity.acquisition import processing_time_by_group

            self.processing_time = processing_time_by_group(
                records.seconds, records.codes, records.levels, self.group_by
            )
        return self._table(table, path, engine)

    # --- the audits ---------------------------------------------------------------------

    def _exact(self, comparisons: ComparisonSet) -> AuditResult:
        """Audit a list of comparisons exactly, with its intervals."""
        self.message(f"auditing {len(comparisons)} comparisons ...")
        return audit_comparisons(
            comparisons,
            group_by=self.group_by,
            config=self.request.config,
            intervals=self.request.intervals,
            message=self.message,
        )

    def _streamed(self, streamed: Any) -> AuditResult:
        """Audit the accumulator of a streaming reader, with closed-form intervals."""
        from faceparity.verification.audit import audit_accumulated

        result = audit_accumulated(
            streamed.accumulator,
            groups=streamed.groups,
            group_by=streamed.group_by,
            population=streamed.population,
            config=self.request.config,
            source=streamed.source,
            exclusions=streamed.exclusions,
            notes=streamed.notes,
            score_kind=streamed.score_kind,
        )
        return add_intervals(result, self.request.intervals, message=self.message)

    def _identify(self, table: EmbeddingTable, metadata: Path, engine: EngineSettings) -> None:
        """Run the 1:N audit when asked (before anything is written)."""
        settings = self.request.identification
        if settings is None:
            return
        from faceparity.identification import ProtocolConfig, audit_searches, read_roles
        from faceparity.identification.audit import run_searches
        from faceparity.uncertainty.identification import identification_intervals

        protocol = ProtocolConfig(
            gallery_samples=settings.gallery_samples,
            non_mated_fraction=settings.non_mated_fraction,
            seed=self.request.intervals.seed,  # the seed of the protocol and of the bootstrap
        )
        roles = None
        if settings.split_column is not None:
            roles = read_roles(metadata, settings.split_column, table.rows)
        self.message("1:N identification: searching the gallery ...")
        with self.progress("comparisons") as update:
            searches = run_searches(
                table,
                group_by=self.group_by,
                protocol=protocol,
                roles=roles,
                split_column=settings.split_column,
                rank=settings.rank,
                block_size=engine.block_size,
                threads=engine.threads,
                progress=update,
                file=str(metadata),
            )
        result = audit_searches(
            searches.result,
            searches.protocol,
            groups=searches.groups,
            group_by=self.group_by,
            rank=settings.rank,
            target_fpirs=settings.target_fpirs,
            policies=self.request.config.policies,
        )
        intervals = self.request.intervals
        if intervals.method is IntervalMethod.BOOTSTRAP:
            self.message(
                f"1:N: bootstrapping probe subjects: {intervals.replicates} replicates ..."
            )
        self.identification = identification_intervals(
            result,
            searches,
            group_by=self.group_by,
            method=intervals.method.value,
            replicates=intervals.replicates,
            level=intervals.level,
            seed=intervals.seed,
        )

    def _table(self, table: EmbeddingTable, metadata: Path, engine: EngineSettings) -> AuditResult:
        """Every comparison of an embedding table: exact or streamed, by the engine settings."""
        from faceparity.readers.embeddings import compare_all

        if table.comparison != "cosine" and (
            self.request.identification is not None
            or engine.choice is EngineChoice.STREAM
            or engine.scheduler is not None
        ):
            raise UsageError(MSG_EXACT_ONLY.format(comparison=table.comparison))
        self._identify(table, metadata, engine)
        n = len(table.subject)
        if engine.scheduler is not None and engine.choice is EngineChoice.EXACT:
            raise UsageError(
                "--scheduler runs the streaming engine; it cannot go with --engine exact"
            )
        small = n * (n - 1) // 2 <= engine.max_comparisons
        if (
            table.comparison != "cosine"
            or engine.choice is EngineChoice.EXACT
            or (engine.choice is EngineChoice.AUTO and small and engine.scheduler is None)
        ):
            cs = compare_all(table, max_comparisons=engine.max_comparisons, file=str(metadata))
            return self._exact(cs)
        return self._stream_table(table, engine)

    def _stream_table(self, table: EmbeddingTable, engine: EngineSettings) -> AuditResult:
        from faceparity.scoring.engine import EngineConfig
        from faceparity.uncertainty.apply import with_uncertainty
        from faceparity.verification.stream import stream_embeddings_audit

        config, intervals = self.request.config, self.request.intervals
        engine_config = EngineConfig(
            block_size=engine.block_size,
            threads=engine.threads or EngineConfig().threads,
            backend=engine.backend.value,
            device=engine.device,
            capacity=engine.tail_capacity,
            checkpoint=engine.checkpoint,
        )
        n = len(table.subject)
        n_comparisons = n * (n - 1) // 2
        self.message(f"streaming {n_comparisons} comparisons of {n} samples ...")
        bootstrap = intervals.method is IntervalMethod.BOOTSTRAP
        largest = max(config.target_fmrs)
        if bootstrap and engine.tail_capacity < 2 * largest * n * (n - 1) // 2:
            self.message(
                f"note: the bootstrap reweights the exact tail; at target FMR {largest:g} it "
                f"needs about {int(2 * largest * n * (n - 1) // 2):,} exact scores "
                f"(--tail-capacity, now {engine.tail_capacity:,}); rates read below the tail "
                "get no interval"
            )
        with self.progress("comparisons") as update:
            streamed = stream_embeddings_audit(
                table,
                group_by=self.group_by,
                config=config,
                engine=engine_config,
                progress=update,
                scheduler=engine.scheduler,
                ready=self.first_loaded,  # loaded while reading and computing the first products
            )
            if bootstrap:
                # The subject bootstrap from the engine's exact scores and their subjects;
                # it may fork, which it does with no import under way on another thread.
                self.preloaded()
                result = with_uncertainty(
                    streamed.result,
                    method=IntervalMethod.BOOTSTRAP.value,
                    config=config,
                    accumulator=streamed.accumulator,
                    samples=streamed.samples,
                    replicates=intervals.replicates,
                    level=intervals.level,
                    seed=intervals.seed,
                )
        if not bootstrap:
            return add_intervals(streamed.result, intervals, message=self.message)
        self.message(f"bootstrapped subjects: {intervals.replicates} replicates")
        return result

    # --- the end ------------------------------------------------------------------------

    def test_log(self) -> TestLog:
        """The test log: the files read (the embeddings a pipeline run wrote among them)."""
        from faceparity.workflow.testlog import make_test_log

        inputs, _ = files(self.request)
        source = self.request.source
        if isinstance(source, ImagesInput):
            inputs["--embeddings (written by the pipeline, then read)"] = source.embeddings
        return make_test_log(
            inputs,
            command_line=self.request.command_line,
            images=isinstance(source, ImagesInput),
            digests=self.digests,
        )

    def finish(self, result: AuditResult) -> AuditOutcome:
        """Add the 1:N and acquisition parts, say the notes, check the limits, commit."""
        request = self.request
        if self.identification is not None:
            result = dataclasses.replace(result, identification=self.identification)
        if self.acquisition is not None:
            from faceparity.acquisition import with_acquisition

            result = with_acquisition(result, self.acquisition)
        if self.processing_time is not None:
            result = dataclasses.replace(result, processing_time=self.processing_time)
        result = dataclasses.replace(result, test_log=self.test_log())
        for note in result.input.notes:
            self.message(f"note: {note}")
        check = None
        if request.limits is not None:
            from faceparity.review.check import check_limits

            check = check_limits(result, request.limits, results_name="the audit's results")
        if request.output is not None:
            report = None
            if request.report:
                self.preloaded()
                from faceparity.render.report import render_html

                report = render_html(result)
            write_results(result, request.output, report=report, outputs=self.outputs)
        written = self.outputs.commit()
        return AuditOutcome(result, written, check, request.output_format)
