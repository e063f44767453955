"""A training-free generator: move facial landmarks as the FACS motion model says, warp, then render occlusion.

Pipeline per frame (docs/reference.md §Warp generator):

1. targets = source landmarks + the motion model's shifts for the requested AUs (face frame, IOD units);
2. a thin-plate spline through the moved control points, fixed face-contour anchors and the crop border gives the
   backward field (exact at every control point) on a grid, upsampled and quantised to 1/4096 of the crop (so
   float rounding in other libraries' kernels cannot flip a pixel between runs, batch sizes or process counts);
3. ``grid_sample`` warps the face; lids close by occlusion (AU45), parted lips show the cavity, and the
   appearance cues (furrows, wrinkles, nasolabial fold, dimples) are shaded on.

The output depends on (face, landmarks, AUs) only: every step is computed per face, never across the batch.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..aus.motion import MotionModel
from ..aus.schema import AU_INDEX, AU_MAX, AU_NAMES, NUM_AUS
from ..errors import MiexInputError
from ..faces.mesh import NUM_LANDMARKS
from .base import FaceGenerator
from .grid import to_uint8
from .tps import border_points, pixel_centres, spline_values
from .warp_render import LocalFrames, appearance_shading, close_lids, open_mouth

FIELD_QUANTUM = 4096.0


class WarpGenerator(FaceGenerator):
    """Landmark-driven warp with occlusion-aware lids and lips; no weights, any device, deterministic.

    Faces without given landmarks are measured with the MediaPipe landmarker (imported only then)."""

    name = "warp"
    needs_landmarks = True

    def __init__(
        self,
        model: MotionModel | dict[str, Any] | str | PathLike[str] | None = None,
        *,
        appearance: bool = True,
        field_resolution: int = 48,
        shading: bool | None = None,
    ) -> None:
        self.motion = model if isinstance(model, MotionModel) else MotionModel.load(model)
        self.model = self.motion.raw
        self.model_path = None if model is None else self.motion.source
        self.appearance = appearance if shading is None else shading
        self.field_resolution = field_resolution
        self.control = list(self.motion.control)
        self.basis = torch.from_numpy(self.motion.basis).float()  # AU -> per-control-point shift at 5 (IOD)

    @property
    def config(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model_path or "facs_motion.json", "model_sha256": self.motion.digest,
                "appearance": self.appearance, "field_resolution": self.field_resolution,
                "format": self.model.get("format", "")}  # fmt: skip

    def detect_landmarks(self, faces: torch.Tensor) -> torch.Tensor:
        """Measure 478 landmarks per face with MediaPipe; a face it cannot find is an error naming its index."""
        from .mediapipe_face import measure_face

        points = []
        for index, image in enumerate(to_uint8(faces)):
            measured = measure_face(image)
            if measured is None:
                raise MiexInputError("no face found by the landmarker; pass landmarks= explicitly", row=index)
            points.append(torch.from_numpy(measured.landmarks))
        return torch.stack(points).to(faces.device)

    def displacements(self, landmarks: torch.Tensor, aus: torch.Tensor) -> torch.Tensor:
        """Image-space pixel shift (N x K x 2) of the control landmarks for ``aus`` on the 0 to 5 scale."""
        local = torch.einsum("na,akc->nkc", aus / AU_MAX, self.basis.to(landmarks))
        frames = LocalFrames(landmarks, 1, 1)
        shift = local[..., :1] * frames.across[:, None] + local[..., 1:] * frames.down[:, None]
        return shift * frames.iod[:, None, None]

    def targets(self, landmarks: torch.Tensor, aus: torch.Tensor) -> torch.Tensor:
        """All 478 landmarks where the AUs move them (lid closure not included: it is occlusion, see AU45)."""
        moved = landmarks.clone()
        moved[:, self.control] = landmarks[:, self.control] + self.displacements(landmarks, aus)
        return moved

    def _animate(
        self,
        faces: torch.Tensor,
        aus: torch.Tensor,
        generator: torch.Generator | None,
        landmarks: torch.Tensor | np.ndarray | None = None,
    ) -> torch.Tensor:
        del generator  # deterministic
        moving = (aus > 0).any(dim=1)
        if not moving.any():
            return faces.clone()  # zero AUs: the input, bit for bit
        if landmarks is None:
            points = self.detect_landmarks(faces)
        else:
            points = torch.as_tensor(landmarks, dtype=torch.float32, device=faces.device)
            if points.ndim != 3 or points.shape[1:] != (NUM_LANDMARKS, 2) or points.shape[0] != faces.shape[0]:
                raise MiexInputError(f"landmarks must be N x 478 x 2 pixel coordinates, got {tuple(points.shape)}",
                                     field="landmarks")  # fmt: skip
        output = faces.clone()  # rows with zero AUs stay the input, bit for bit
        rows = torch.nonzero(moving).flatten().tolist()
        for row in rows:  # per face: no result depends on what else is in the batch
            output[row] = self._render(faces[row : row + 1], points[row : row + 1], aus[row : row + 1])[0]
        return output

    def _render(self, face: torch.Tensor, landmarks: torch.Tensor, aus: torch.Tensor) -> torch.Tensor:
        _, _, height, width = face.shape
        target = self.targets(landmarks, aus)
        backward = self._backward_field(landmarks[0].double().cpu(), target[0].double().cpu(), height, width)
        field = F.interpolate(backward, size=(height, width), mode="bilinear", align_corners=False)
        grid = pixel_centres(height, width, torch.device("cpu"), torch.float64) + field.permute(0, 2, 3, 1)
        grid = (torch.round(grid * FIELD_QUANTUM) / FIELD_QUANTUM).to(face.device, torch.float32)
        frame = F.grid_sample(face, grid, mode="bilinear", padding_mode="border", align_corners=False)
        frames = LocalFrames(landmarks, height, width)
        closure = aus[:, AU_INDEX["AU45"]] / AU_MAX * float(self.motion.eyelids.get("closure_at_5", 0.0))
        if bool((closure > 0).any()):
            frame = close_lids(frame, target, frames, closure, self.motion.eyelids)
        if self.motion.mouth and _lips_part(landmarks, target, frames):
            frame = open_mouth(frame, landmarks, target, frames, self.motion.mouth)
        if self.appearance and self.motion.appearance:  # shading is smooth: computed at half resolution
            half = LocalFrames(target * 0.5, max(height // 2, 1), max(width // 2, 1))
            shade = appearance_shading(target * 0.5, half, aus, self.motion.appearance)
            frame = frame * F.interpolate(shade, size=(height, width), mode="bilinear", align_corners=False)
        return frame.clamp_(0, 1)

    def _backward_field(self, source: torch.Tensor, target: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Backward displacement (1 x 2 x R x R, normalised) of the spline through the moved control points: exact
        at every target (each output landmark samples its source), computed for this face alone in float64."""
        size = np.array([width, height], dtype=np.float64)
        control = self.control
        centres = np.concatenate([target[control].numpy() / size * 2 - 1, border_points()])
        values = np.concatenate([(source[control] - target[control]).numpy() / size * 2, np.zeros((16, 2))])
        resolution = self.field_resolution
        queries = pixel_centres(resolution, resolution, torch.device("cpu"), torch.float64).view(-1, 2).numpy()
        field = spline_values(centres, values, queries)
        return torch.from_numpy(field).view(1, resolution, resolution, 2).permute(0, 3, 1, 2)


def _lips_part(source: torch.Tensor, target: torch.Tensor, frames: LocalFrames) -> bool:
    """Whether the inner lips move apart anywhere (only then is there a cavity to paint)."""
    from ..faces.mesh import LOWER_INNER_LIP, UPPER_INNER_LIP

    def gap(points: torch.Tensor) -> torch.Tensor:
        local = frames.to_local(points)
        return local[:, list(LOWER_INNER_LIP), 1] - local[:, list(UPPER_INNER_LIP), 1]

    return bool((gap(target) - gap(source) > 1e-3).any())


def fit_displacement_model(
    neutral: np.ndarray, expressive: np.ndarray, aus: np.ndarray, *, landmarks: list[int] | None = None
) -> dict[str, Any]:
    """Least-squares per-AU landmark shifts from paired frames (neutral, expressive landmarks, AUs of the latter).

    Shifts are expressed like :file:`facs_motion.json` (face frame, IOD units, at intensity 5), one group per
    landmark; anchors, mirror pairs, lids, mouth, couplings and appearance cues of the default model are kept."""
    from ..faces.mesh import face_frame

    neutral, expressive = np.asarray(neutral, np.float64), np.asarray(expressive, np.float64)
    weights = np.asarray(aus, np.float64) / AU_MAX
    if neutral.shape != expressive.shape or neutral.shape[1:] != (NUM_LANDMARKS, 2) or len(weights) != len(neutral):
        raise MiexInputError("need M x 478 x 2 neutral and expressive landmarks and M x 17 AUs", field="landmarks")
    pairs = zip(neutral, expressive, strict=True)
    local = np.stack([face_frame(n).to_local(e) - face_frame(n).to_local(n) for n, e in pairs])
    chosen = landmarks if landmarks is not None else list(range(NUM_LANDMARKS))
    solution, *_ = np.linalg.lstsq(weights, local[:, chosen].reshape(len(weights), -1), rcond=None)
    solution = solution.reshape(NUM_AUS, len(chosen), 2)
    base = MotionModel.load().raw
    fitted = {name: [{"landmarks": [int(lm)], "shift": [round(float(v), 5) for v in solution[a, k]]}
                     for k, lm in enumerate(chosen) if np.abs(solution[a, k]).max() > 1e-3]
              for a, name in enumerate(AU_NAMES)}  # fmt: skip
    keep = ("format", "anchors", "mirror_pairs", "eyelids", "mouth", "couplings", "appearance")
    return {**{k: base[k] for k in keep if k in base}, "description": "fitted by fit_displacement_model",
            "version": base.get("version", 2), "aus": {k: v for k, v in fitted.items() if v}}  # fmt: skip
