"""``faceparity classify``: run a classifier on a manifest's images; write the predictions table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from faceparity.errors import UsageError
from faceparity.workflow.outputs import OutputTransaction, check_outputs, refuse_overwriting
from faceparity.workflow.progress import Message, silent

__all__ = ["run_classify"]


def run_classify(
    manifest_path: Path,
    *,
    root: Path,
    classifier_path: Path,
    spec_path: Path,
    output: Path,
    detector: str | None = None,
    path_column: str = "path",
    subject_column: str = "subject",
    message: Message = silent,
) -> tuple[pd.DataFrame, str]:
    """Classify every image; write the manifest's columns, the prediction and its status.

    The prediction goes in the spec's ``column`` and the outcome in ``<column>_status``,
    so that a second classifier can be run on the first one's table.

    An image that cannot be read, in which no face is found, or whose output cannot be
    decoded has an empty prediction and its reason in ``status``: the audit counts it
    among its exclusions, never silently. Returns the table and its status column.
    """
    from faceparity.pipeline.classify import OnnxClassifier, classify_files, read_classifier_spec
    from faceparity.readers.manifest import read_manifest

    if output.suffix.lower() != ".csv":
        raise UsageError(f"-o {output}: expected a file ending in .csv")
    refuse_overwriting(
        {"MANIFEST": manifest_path, "--classifier": classifier_path, "--spec": spec_path},
        {"-o/--output": output},
    )
    check_outputs([output])
    spec = read_classifier_spec(spec_path)
    manifest = read_manifest(
        manifest_path, root=root, path_column=path_column, subject_column=subject_column
    )
    status_column = f"{spec.column}_status"
    reserved = [c for c in (status_column, spec.column) if c in manifest.attributes.columns]
    if reserved:
        raise UsageError(
            f"{manifest_path}: has a column {reserved[0]!r}, which the predictions table "
            "writes; set another column = ... in the spec"
        )
    classifier = OnnxClassifier(classifier_path, spec)
    opened = None
    if spec.crop == "box":
        from faceparity.pipeline.detect import open_detector

        opened = open_detector(detector or "haar")
    outcomes = list(classify_files(manifest.files, classifier, opened))
    table = pd.DataFrame(
        {
            path_column: manifest.paths,
            subject_column: manifest.subject.tolist(),
        }
    )
    table = pd.concat([table, manifest.attributes.reset_index(drop=True)], axis=1)
    table[status_column] = [status for status, _ in outcomes]
    table[spec.column] = [prediction for _, prediction in outcomes]
    with OutputTransaction(message=message) as outputs:
        outputs.write_text(output, table.to_csv(index=False))
        outputs.commit()
    return table, status_column
