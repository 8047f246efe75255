"""Two face images compared with the model under audit: their score and the decision.

For people who just want to compare two faces: each image goes through the same
pipeline as an audit's (decode, detect, choose one face, align, embed), the score is the
cosine similarity of the two embeddings, and the decision is ``score >= threshold``.
What a threshold means in an audit of the same model is
:mod:`faceparity.review.threshold`'s. Nothing is stored; this is not a search.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.errors import UsageError
from faceparity.pipeline.align import align_face
from faceparity.pipeline.detect import Detector
from faceparity.pipeline.embedder import OnnxEmbedder
from faceparity.pipeline.faces import choose_face
from faceparity.pipeline.images import ImageFailure, decode_image, read_image

__all__ = ["MSG_NO_TEMPLATE", "PairScore", "compare_images"]

MSG_NO_TEMPLATE = "{file}: no template could be made: {reason}"
MSG_NOT_COSINE = (
    "{model}: its templates are compared by {comparison} distance, and this comparison "
    "of two images scores by cosine similarity; audit the model with faceparity embed "
    "and faceparity audit embeddings, which score its templates by distance"
)


@dataclass(frozen=True)
class PairScore:
    """The score of two images and how each was captured."""

    score: float
    faces: tuple[int, int]

    def decision(self, threshold: float) -> bool:
        """``score >= threshold``: a match."""
        return self.score >= threshold

    def describe(self, threshold: float) -> str:
        """The score and the decision, in one line each."""
        verdict = "match" if self.decision(threshold) else "no match"
        return (
            f"score: {self.score:.6f} (cosine similarity)\n"
            f"decision at threshold {threshold:g}: {verdict}"
        )


def _template(
    path: str | os.PathLike[str], detector: Detector | None, embedder: OnnxEmbedder
) -> tuple[npt.NDArray[np.float32], int]:
    """The unit embedding of an image's face and the number of faces found."""
    data, failure = read_image(path)
    if data is None:
        assert failure is not None
        raise UsageError(MSG_NO_TEMPLATE.format(file=path, reason=_reason(failure)))
    decoded = decode_image(data)
    if isinstance(decoded, ImageFailure):
        raise UsageError(MSG_NO_TEMPLATE.format(file=path, reason=_reason(decoded)))
    face, n_faces = None, 1
    if detector is not None:
        faces = detector.detect(decoded.pixels)
        n_faces = len(faces)
        face = choose_face(faces, width=decoded.width, height=decoded.height)
        if face is None:
            raise UsageError(MSG_NO_TEMPLATE.format(file=path, reason="no face found"))
    crop = align_face(decoded.pixels, face, size=embedder.spec.size)
    embedding, usable = embedder.embed(crop[None])
    if not usable[0]:
        raise UsageError(
            MSG_NO_TEMPLATE.format(file=path, reason="the model gave no usable embedding")
        )
    return embedding[0], n_faces


def _reason(failure: ImageFailure) -> str:
    return failure.reason + (f" ({failure.detail})" if failure.detail else "")


def compare_images(
    a: str | os.PathLike[str],
    b: str | os.PathLike[str],
    *,
    detector: Detector | None,
    embedder: OnnxEmbedder,
) -> PairScore:
    """The cosine similarity of the faces of two images.

    Raises
    ------
    UsageError
        When an image gives no template (unreadable, no face, no usable embedding), or
        the model's templates are compared otherwise than by cosine (dlib's ResNet).

    """
    comparison = getattr(embedder.spec, "comparison", "cosine")
    if comparison != "cosine":
        raise UsageError(MSG_NOT_COSINE.format(model=embedder.file, comparison=comparison))
    ea, na = _template(a, detector, embedder)
    eb, nb = _template(b, detector, embedder)
    score = float(np.dot(ea.astype(np.float64), eb.astype(np.float64)))
    return PairScore(score=score, faces=(na, nb))
