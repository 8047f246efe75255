"""Failures to acquire and to enrol, by demographic group (ISO/IEC 19795-1 and -10).

A face that is never found, or found but too poor to enrol, is an error that the
comparison scores never show. :func:`acquisition_by_group` counts both outcomes of a
pipeline run (:mod:`faceparity.pipeline.run`) per group, with intervals, and the
reasons; :class:`AcquisitionResult` is the ``acquisition`` section of ``results.json``.
:func:`processing_time_by_group` gives the pipeline's time per image by group.
"""

from faceparity.acquisition.metrics import (
    acquisition_by_group,
    generalised_fnmr,
    with_acquisition,
)
from faceparity.acquisition.timing import processing_time_by_group
from faceparity.results.acquisition import AcquisitionGroup, AcquisitionResult

__all__ = [
    "AcquisitionGroup",
    "AcquisitionResult",
    "acquisition_by_group",
    "generalised_fnmr",
    "processing_time_by_group",
    "with_acquisition",
]
