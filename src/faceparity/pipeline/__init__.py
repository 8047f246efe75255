"""From face images to templates: the recognition pipeline under audit.

The system a demographic audit measures is a whole face recognition pipeline, and each
stage can treat groups differently (ISO/IEC 19795-10): a face that is never found is an
error that comparison scores never show. This package runs that pipeline on the user's
own images and ONNX models, stage by stage:

- :mod:`~faceparity.pipeline.images`: decoding, with limits on file size and pixels;
- :mod:`~faceparity.pipeline.detect`: face detectors (SCRFD, YuNet, OpenCV's Haar
  cascade) and the rule that picks one face per image (:mod:`~faceparity.pipeline.faces`);
- :mod:`~faceparity.pipeline.align`: the similarity transform onto the ArcFace template;
- :mod:`~faceparity.pipeline.embedder`: any ONNX recognition model, declared by a spec;
- :mod:`~faceparity.pipeline.dlib_embedder`: dlib's 128-d ResNet with dlib's own
  alignment, its templates compared by Euclidean distance (``pip install 'faceparity[dlib]'``,
  with dlib's HOG and MMOD detectors);
- :mod:`~faceparity.pipeline.quality` and :mod:`~faceparity.pipeline.skintone`:
  per-image measures and the Individual Typology Angle;
- :mod:`~faceparity.pipeline.run`: the manifest in, embeddings and a record per image
  out, with failures to acquire and to enrol counted, and a cache that lets reruns resume.

OpenCV and onnxruntime are optional (``pip install 'faceparity[images]'``) and imported
only when a stage needs them.
"""

from faceparity.pipeline.detect import Detector, open_detector
from faceparity.pipeline.dlib_embedder import DlibEmbedder, DlibSpec
from faceparity.pipeline.embedder import ModelSpec, OnnxEmbedder, read_model_spec
from faceparity.pipeline.faces import Face, choose_face
from faceparity.pipeline.quality import ImageQuality, QualityLimits, parse_quality_limits
from faceparity.pipeline.run import EmbeddingRun, PipelineSettings, embed_images

__all__ = [
    "Detector",
    "DlibEmbedder",
    "DlibSpec",
    "EmbeddingRun",
    "Face",
    "ImageQuality",
    "ModelSpec",
    "OnnxEmbedder",
    "PipelineSettings",
    "QualityLimits",
    "choose_face",
    "embed_images",
    "open_detector",
    "parse_quality_limits",
    "read_model_spec",
]
