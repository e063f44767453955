"""The process-wide face landmarker that synthesis, the warp generator and generator evaluation measure faces with.

Not a second MediaPipe wrapper: it holds one :class:`miex.data.faces.landmarker.FaceAnalyzer` per process and
returns its :class:`~miex.data.faces.landmarker.FaceRecord`, so landmarks measured during synthesis or evaluation
are computed exactly like the face pool's (same upscaling of small crops, same tiling, same bundle). The analyzer is
closed before interpreter shutdown, so MediaPipe prints nothing at exit; a forked child (e.g. a DataLoader worker)
starts without one (the landmarker module disowns inherited copies).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from miex.data.faces.landmarker import FaceAnalyzer, FaceRecord

_LOCK = threading.Lock()
_ANALYZER: FaceAnalyzer | None = None


def shared_analyzer() -> FaceAnalyzer:
    """One analyzer per process, closed by a threading-exit hook (those run before MediaPipe's own shutdown)."""
    global _ANALYZER
    with _LOCK:
        if _ANALYZER is None:
            _ANALYZER = FaceAnalyzer(max_faces=1)
            threading._register_atexit(close_shared_analyzer)  # type: ignore[attr-defined]
        return _ANALYZER


def close_shared_analyzer() -> None:
    global _ANALYZER
    with _LOCK:
        if _ANALYZER is not None:
            _ANALYZER.close()
            _ANALYZER = None


def _forget_in_child() -> None:
    """After a fork the child holds a copy of the parent's lock (maybe taken) and an analyzer it cannot use: start
    afresh, so a measurement in the child builds its own and the inherited exit hook finds nothing to close."""
    global _ANALYZER, _LOCK
    _LOCK = threading.Lock()
    _ANALYZER = None


os.register_at_fork(after_in_child=_forget_in_child)


def measure_face(image: np.ndarray) -> FaceRecord | None:
    """The largest face in ``image`` (H x W x 3 uint8 RGB) -- float32 landmarks (478, 2) in its pixels, blendshapes,
    ``landmarks_3d`` -- or None."""
    analyzer = shared_analyzer()
    with _LOCK:
        faces = analyzer.analyze(image)
    return faces[0] if faces else None
