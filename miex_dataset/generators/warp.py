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

import functools
from os import PathLike
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.distance import cdist

from ..aus.motion import MotionModel
from ..aus.schema import AU_INDEX, AU_MAX, AU_NAMES, NUM_AUS
from ..errors import MiexInputError
from ..faces.mesh import NUM_LANDMARKS
from .base import FaceGenerator
from .grid import to_uint8
from .tps import border_points, evaluate_spline, fit_spline, pixel_centres
from .warp_render import LocalFrames, appearance_shading, close_lids, open_mouth

FIELD_QUANTUM = 4096.0
PIN_RADIUS = 0.2
"""Fixed control points this close (IOD) to a moving one pin the spline; farther ones are left to the anchors."""
RENDER_CHUNK = 16
"""Rows rendered together after their per-row splines (bounds the memory of the per-pixel steps)."""
EXACT_RADIUS = 0.055
"""Around every moved point (IOD; 2.4 px on a 128 px crop) the field is evaluated exactly, not upsampled."""


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
        field_resolution: int = 24,
        shading: bool | None = None,
    ) -> None:
        self.motion = model if isinstance(model, MotionModel) else MotionModel.load(model)
        self.model = self.motion.raw
        self.model_path = None if model is None else self.motion.source
        self.appearance = appearance if shading is None else shading
        self.field_resolution = field_resolution
        self.control = list(self.motion.control)
        self.basis = torch.from_numpy(self.motion.basis).float()  # AU -> per-control-point shift at 5 (IOD)
        anchors = {int(i) for i in self.model.get("anchors", [])}
        self._anchor_mask = np.array([i in anchors for i in self.control])

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
        """Image-space pixel shift (N x K x 2) of the control landmarks for ``aus`` on the 0 to 5 scale.

        A sum over AUs per element, not a matrix product: a product's rounding can depend on the batch size."""
        local = ((aus / AU_MAX)[:, :, None, None] * self.basis.to(landmarks)[None]).sum(1)
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
        rows = torch.nonzero(moving).flatten()
        for start in range(0, len(rows), RENDER_CHUNK):
            chunk = rows[start : start + RENDER_CHUNK]
            output[chunk] = self._render(faces[chunk], points[chunk], aus[chunk])
        return output

    def _render(self, faces: torch.Tensor, landmarks: torch.Tensor, aus: torch.Tensor) -> torch.Tensor:
        """Frames of moving rows. The spline is fitted per row; every later step is per pixel and applied only to
        the rows that need it, so no row's bytes depend on the other rows of the chunk."""
        _, _, height, width = faces.shape
        target = self.targets(landmarks, aus)
        # quantised to 1/4096 (exact in float32 next to the pixel-centre grid): float rounding elsewhere can then
        # never flip a sample position between runs, batch sizes or thread counts
        fields = [self.backward_field(s.double().cpu(), t.double().cpu(), height, width).mul_(FIELD_QUANTUM).round_()
                  for s, t in zip(landmarks, target, strict=True)]  # fmt: skip
        offsets = torch.cat(fields).div_(FIELD_QUANTUM).float().permute(0, 2, 3, 1)
        grid = (pixel_centres(height, width, torch.device("cpu")) + offsets).to(faces.device)
        frames = F.grid_sample(faces, grid, mode="bilinear", padding_mode="border", align_corners=False)
        closure = aus[:, AU_INDEX["AU45"]] / AU_MAX * float(self.motion.eyelids.get("closure_at_5", 0.0))
        closing = torch.nonzero(closure > 0).flatten()
        if len(closing):
            local = LocalFrames(landmarks[closing], height, width)
            frames[closing] = close_lids(frames[closing], target[closing], local, closure[closing], self.motion.eyelids)
        if self.motion.mouth:
            parting = torch.nonzero(_lips_part(landmarks, target)).flatten()
            if len(parting):
                local = LocalFrames(landmarks[parting], height, width)
                opened = open_mouth(frames[parting], landmarks[parting], target[parting], local, self.motion.mouth)
                frames[parting] = opened
        if self.appearance and self.motion.appearance:  # shading is smooth: computed at half resolution
            cues = [AU_INDEX[au] for au in self.motion.appearance]
            shaded = torch.nonzero((aus[:, cues] > 0).any(dim=1)).flatten()
            if len(shaded):
                half = LocalFrames(target[shaded] * 0.5, max(height // 2, 1), max(width // 2, 1))
                shade = appearance_shading(target[shaded] * 0.5, half, aus[shaded], self.motion.appearance)
                if shade is not None:
                    up = F.interpolate(shade, size=(height, width), mode="bilinear", align_corners=False)
                    if len(shaded) == len(frames):
                        frames.mul_(up)
                    else:
                        frames[shaded] = frames[shaded] * up
        return frames.clamp_(0, 1)

    def backward_field(self, source: torch.Tensor, target: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Backward displacement (1 x 2 x H x W, normalised, float64) of the spline through the moved control points.

        Centres: the points that move, the fixed control points within :data:`PIN_RADIUS` of them, the face-contour
        anchors and the crop border (far fixed points change the field by a negligible amount but cost a lot). The
        field is evaluated on a coarse grid and upsampled, then evaluated exactly at the pixels within
        :data:`EXACT_RADIUS` of every moved point, where a coarse grid cannot follow the spline: so each moved
        landmark samples its source."""
        size = np.array([width, height], dtype=np.float64)
        control = np.asarray(self.control)
        src, dst = source[control].numpy(), target[control].numpy()
        shift = src - dst
        moving = np.abs(shift).max(axis=1) > 1e-6
        interocular = float(np.linalg.norm(source[[263, 362]].mean(0) - source[[33, 133]].mean(0)).item())
        near = np.zeros(len(control), dtype=bool)
        if moving.any():
            distance = cdist(dst, dst[moving]).min(axis=1)
            near = distance < PIN_RADIUS * interocular
        keep = moving | near | self._anchor_mask
        centres = np.concatenate([dst[keep] / size * 2 - 1, border_points()])
        values = np.concatenate([shift[keep] / size * 2, np.zeros((16, 2))])
        weights = fit_spline(centres, values)
        resolution = self.field_resolution
        grid = _grid_queries(resolution)
        pixels, blend = _pixels_near(dst[moving], EXACT_RADIUS * interocular, height, width)
        at = np.column_stack([(pixels[:, 1] + 0.5) / width * 2 - 1, (pixels[:, 0] + 0.5) / height * 2 - 1])
        values_at = torch.from_numpy(evaluate_spline(centres, weights, np.concatenate([grid, at])))
        coarse = values_at[: len(grid)].view(1, resolution, resolution, 2).permute(0, 3, 1, 2)
        field = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
        if len(pixels):
            rows, cols = torch.from_numpy(pixels[:, 0]), torch.from_numpy(pixels[:, 1])
            weight = torch.from_numpy(blend)
            exact = values_at[len(grid) :].T  # 2 x P
            field[0, :, rows, cols] = field[0, :, rows, cols] * (1 - weight) + exact * weight
        return field


@functools.lru_cache(maxsize=8)
def _grid_queries(resolution: int) -> np.ndarray:
    return pixel_centres(resolution, resolution, torch.device("cpu"), torch.float64).view(-1, 2).numpy()


def _pixels_near(points: np.ndarray, radius: float, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (P x 2 row, col) whose centre lies within ``radius`` of a point, with a blend weight that is 1 out to
    ``radius - 1`` px and falls to 0 at ``radius`` (so exact and coarse values meet without a seam)."""
    if not len(points):
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    reach = int(np.ceil(radius)) + 1
    steps = np.arange(-reach, reach + 1)
    offsets = np.stack(np.meshgrid(steps, steps, indexing="ij"), -1).reshape(-1, 2)  # row, col
    candidates = (np.floor(points[:, ::-1]).astype(np.int64)[:, None] + offsets[None]).reshape(-1, 2)
    owners = np.repeat(points, len(offsets), axis=0)
    distance = np.hypot(candidates[:, 1] + 0.5 - owners[:, 0], candidates[:, 0] + 0.5 - owners[:, 1])
    inside = (distance < radius) & (candidates[:, 0] >= 0) & (candidates[:, 0] < height)
    inside &= (candidates[:, 1] >= 0) & (candidates[:, 1] < width)
    flat = torch.from_numpy(candidates[inside, 0] * width + candidates[inside, 1])
    weight = torch.from_numpy(np.clip(radius - distance[inside], 0.0, 1.0))
    best = torch.zeros(height * width, dtype=torch.float64).scatter_reduce_(0, flat, weight, "amax")  # order-free
    chosen = torch.nonzero(best > 0).flatten()
    return np.column_stack([(chosen // width).numpy(), (chosen % width).numpy()]), best[chosen].numpy()


def _lips_part(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per row: whether the inner lips move apart anywhere (only then is there a cavity to paint)."""
    from ..faces.mesh import LOWER_INNER_LIP, UPPER_INNER_LIP

    frames = LocalFrames(source, 1, 1)

    def gap(points: torch.Tensor) -> torch.Tensor:
        local = frames.to_local(points)
        return local[:, list(LOWER_INNER_LIP), 1] - local[:, list(UPPER_INNER_LIP), 1]

    return (gap(target) - gap(source) > 1e-3).any(dim=1)


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
