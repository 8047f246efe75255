"""The ``processing_time`` section of ``results.json``: time per image by group.

ISO/IEC 19795-10 counts "aspects of response and processing time (throughput)" among
the performance that may differ between demographic groups. The image pipeline times
each image it processes (reading to measuring on its thread, plus its share of its
batch's inference); this section gives the median by group. It measures the machine
the pipeline ran on, with its other load, not the system under test in the field.
Added in schema 1.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from faceparity.results.schema import NonNegative

__all__ = ["GroupProcessingTime", "ProcessingTime"]


@dataclass(frozen=True)
class GroupProcessingTime:
    """One group's images timed and their median time per image, in seconds."""

    attributes: dict[str, str]
    label: str
    n_images: int
    n_timed: int
    median_seconds: NonNegative | None
    p90_seconds: NonNegative | None


@dataclass(frozen=True)
class ProcessingTime:
    """Time per image of the image pipeline, overall and by group.

    ``n_timed`` counts the images processed in the run that wrote the embeddings file;
    an image whose record came from the pipeline's cache was not processed then and
    is not timed.
    """

    overall: GroupProcessingTime
    groups: list[GroupProcessingTime]
    notes: list[str] = field(default_factory=list)
