"""Faces from images: model bundle, detection + landmarks + head pose, alignment, AU extraction, optical flow.

Typical use::

    analyzer = FaceAnalyzer()                       # one per process: the mediapipe object is not picklable
    face = analyzer.analyze(rgb)[0]                 # FaceRecord: landmarks (478, 2) px, blendshapes, yaw/pitch/roll
    crop, crop_landmarks, alignment = align_face(rgb, face.landmarks, size=128)
    aus = MediapipeAUExtractor(analyzer).extract(crop)  # (17,) on 0..5, or None when no face
    pool = read_index("pool/index.parquet")         # the face pool written by `miex faces`
"""

from miex.data.faces.align import (
    DEFAULT_SIZE,
    TEMPLATE,
    Alignment,
    align_clip,
    align_face,
    alignment_for,
    similarity_transform,
)
from miex.data.faces.au_extractors import (
    BLENDSHAPES_FOR_AU,
    Calibration,
    FeatureCalibration,
    MediapipeAUExtractor,
    OpenFaceAUReader,
    blendshapes_to_aus,
)
from miex.data.faces.bundle import resolve_bundle
from miex.data.faces.flow import FlowParams, optical_flow, optical_strain, save_flow
from miex.data.faces.image import as_rgb, read_rgb
from miex.data.faces.landmarker import FaceAnalyzer, FaceRecord, head_pose
from miex.data.faces.pool import build_face_pool, read_index

__all__ = [
    "BLENDSHAPES_FOR_AU",
    "DEFAULT_SIZE",
    "TEMPLATE",
    "Alignment",
    "Calibration",
    "FaceAnalyzer",
    "FaceRecord",
    "FeatureCalibration",
    "FlowParams",
    "MediapipeAUExtractor",
    "OpenFaceAUReader",
    "align_clip",
    "align_face",
    "alignment_for",
    "as_rgb",
    "blendshapes_to_aus",
    "build_face_pool",
    "head_pose",
    "optical_flow",
    "optical_strain",
    "read_index",
    "read_rgb",
    "resolve_bundle",
    "save_flow",
    "similarity_transform",
]
