"""A training-free generator: move facial landmarks as FACS describes each AU, then warp the face smoothly.

The displacement model (:file:`warp_model.json`, or any file/dict with the same keys) lists for every AU the
MediaPipe landmarks it moves and their shift at intensity 5, in inter-ocular distances in the face frame (FACTS.md
§7). A thin-plate spline through the moved landmarks, fixed face-border anchors and fixed image-border points gives a
dense backward displacement field; it is evaluated on a coarse grid, upsampled, and applied with ``grid_sample``.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..aus.schema import AU_INDEX, AU_MAX, AU_NAMES, NUM_AUS
from ..errors import MiexInputError
from .base import FaceGenerator
from .grid import to_uint8

NUM_LANDMARKS = 478
LEFT_IRIS, RIGHT_IRIS = 468, 473
WARP_CHUNK = 8
BORDER_POINTS = 5  # per image edge, fixed so the frame of the crop never moves


def default_model() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("warp_model.json").read_text(encoding="utf-8"))


def _mirror_lookup(model: dict[str, Any]) -> dict[int, int]:
    pairs = model.get("mirror_pairs", [])
    return {int(a): int(b) for a, b in pairs} | {int(b): int(a) for a, b in pairs}


def _expand_groups(model: dict[str, Any]) -> list[tuple[str, list[int], np.ndarray]]:
    """(AU, landmarks, shift) per group with mirrored copies added; midline landmarks are not duplicated."""
    pairs = _mirror_lookup(model)
    groups = []
    for au, entries in model["aus"].items():
        if au not in AU_INDEX:
            raise MiexInputError(f"unknown AU {au!r} in the warp model", field="aus")
        for entry in entries:
            shift = np.asarray(entry["shift"], dtype=np.float64)
            landmarks = [int(i) for i in entry["landmarks"]]
            groups.append((au, landmarks, shift))
            mirrored = [pairs[i] for i in landmarks if i in pairs]
            if entry.get("mirror") and mirrored:
                groups.append((au, mirrored, shift * [-1.0, 1.0]))
    return groups


class WarpGenerator(FaceGenerator):
    """Landmark-driven thin-plate-spline warp; needs no weights, runs batched on any device.

    Faces without given landmarks are measured with the MediaPipe landmarker (imported only then)."""

    name = "warp"
    needs_landmarks = True

    def __init__(
        self,
        model: dict[str, Any] | str | PathLike[str] | None = None,
        *,
        shading: bool = False,
        field_resolution: int = 32,
        regularization: float = 1e-2,
    ) -> None:
        if model is None or isinstance(model, dict):
            self.model_path = None if model is None else "<dict>"
            self.model = default_model() if model is None else model
        else:
            path = Path(model)
            if not path.is_file():
                raise MiexInputError("warp model file not found", file=path)
            self.model_path, self.model = str(path), json.loads(path.read_text(encoding="utf-8"))
        self.shading = shading
        self.field_resolution = field_resolution
        self.regularization = regularization
        groups = _expand_groups(self.model)
        anchors = [int(i) for i in self.model.get("anchors", [])]
        self.control = sorted({i for _, landmarks, _ in groups for i in landmarks} | set(anchors))
        position = {landmark: k for k, landmark in enumerate(self.control)}
        basis = np.zeros((NUM_AUS, len(self.control), 2))
        for au, landmarks, shift in groups:
            for landmark in landmarks:
                basis[AU_INDEX[au], position[landmark]] += shift
        self.basis = torch.from_numpy(basis).float()  # AU -> per-control-point shift at intensity 5 (IOD units)

    @property
    def config(self) -> dict[str, Any]:
        digest = hashlib.sha256(json.dumps(self.model, sort_keys=True).encode()).hexdigest()[:16]
        return {"name": self.name, "model": self.model_path or "warp_model.json", "model_sha256": digest,
                "shading": self.shading, "field_resolution": self.field_resolution,
                "regularization": self.regularization}  # fmt: skip

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
        axis = landmarks[:, RIGHT_IRIS] - landmarks[:, LEFT_IRIS]
        interocular = axis.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        across = axis / interocular
        down = torch.stack([-across[:, 1], across[:, 0]], dim=-1)
        shift = local[..., :1] * across[:, None] + local[..., 1:] * down[:, None]
        return shift * interocular[:, None]

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
        if landmarks is not None:
            points = torch.as_tensor(landmarks, dtype=torch.float32, device=faces.device)
            if points.ndim != 3 or points.shape[1:] != (NUM_LANDMARKS, 2) or points.shape[0] != faces.shape[0]:
                raise MiexInputError(f"landmarks must be N x 478 x 2 pixel coordinates, got {tuple(points.shape)}",
                                     field="landmarks")  # fmt: skip
        if moving.all():  # the common case: no copies of the batch
            return self._warp(faces, self.detect_landmarks(faces) if landmarks is None else points, aus)
        output = faces.clone()  # rows with zero AUs stay the input, bit for bit
        subset = self.detect_landmarks(faces[moving]) if landmarks is None else points[moving]
        output[moving] = self._warp(faces[moving], subset, aus[moving])
        return output

    def _warp(self, faces: torch.Tensor, landmarks: torch.Tensor, aus: torch.Tensor) -> torch.Tensor:
        if faces.device.type == "cpu" and faces.shape[0] > WARP_CHUNK:  # a chunk's spline matrices stay in cache
            chunks = range(0, faces.shape[0], WARP_CHUNK)
            return torch.cat([self._warp(*(t[i : i + WARP_CHUNK] for t in (faces, landmarks, aus))) for i in chunks])
        batch, _, height, width = faces.shape
        size = torch.tensor([width, height], dtype=torch.float32, device=faces.device)
        source = landmarks[:, self.control]
        target = source + self.displacements(landmarks, aus)
        border = _border_points(width, height, faces.device).expand(batch, -1, -1)
        target_n = torch.cat([target, border], 1) / size * 2 - 1
        source_n = torch.cat([source, border], 1) / size * 2 - 1
        coarse = _pixel_centres(self.field_resolution, faces.device)
        offsets = thin_plate_spline(target_n, source_n - target_n, coarse, self.regularization)
        field = offsets.view(batch, self.field_resolution, self.field_resolution, 2).permute(0, 3, 1, 2)
        field = F.interpolate(field, size=(height, width), mode="bilinear", align_corners=False)
        base = _pixel_centres_grid(height, width, faces.device)
        grid = base + field.permute(0, 2, 3, 1)
        warped = F.grid_sample(faces, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if self.shading:
            warped = warped * self._shade(target, landmarks, aus, height, width)
        return warped.clamp_(0, 1)

    def _shade(
        self, target: torch.Tensor, landmarks: torch.Tensor, aus: torch.Tensor, height: int, width: int
    ) -> torch.Tensor:
        """Multiplicative darkening around texture AUs (AU06 cheek bulge, AU09 nose wrinkles); off by default."""
        factor = torch.ones(target.shape[0], 1, height, width, device=target.device)
        pixels = _pixel_centres_grid(height, width, target.device).view(1, -1, 2)
        pixels = (pixels + 1) / 2 * torch.tensor([width, height], device=target.device)
        interocular = (landmarks[:, RIGHT_IRIS] - landmarks[:, LEFT_IRIS]).norm(dim=-1)
        pairs = _mirror_lookup(self.model)
        for au, spec in self.model.get("shading", {}).items():
            indices = list(spec["landmarks"]) + ([pairs[i] for i in spec["landmarks"] if i in pairs]
                                                 if spec.get("mirror") else [])  # fmt: skip
            centres = landmarks[:, indices]
            distance = torch.cdist(pixels.expand(target.shape[0], -1, -1), centres)
            sigma = (spec["sigma"] * interocular)[:, None, None]
            blob = torch.exp(-(distance**2) / (2 * sigma**2)).amax(-1).view(-1, 1, height, width)
            strength = spec["strength"] * aus[:, AU_INDEX[au]].view(-1, 1, 1, 1) / AU_MAX
            factor = factor * (1 - strength * blob)
        return factor


def thin_plate_spline(
    centres: torch.Tensor, values: torch.Tensor, queries: torch.Tensor, regularization: float
) -> torch.Tensor:
    """Fit ``f(centres) = values`` (N x K x 2, regularised) and evaluate it at ``queries`` (Q x 2) -> N x Q x 2."""
    batch, count, _ = centres.shape
    dtype = torch.float32  # the (K+3)^2 system is ill-conditioned in float32 (batched and single solves differ)
    c = centres.to(dtype)
    kernel = _tps_kernel(c, c)
    kernel = kernel + regularization * torch.eye(count, dtype=dtype, device=c.device)
    affine = torch.cat([torch.ones(batch, count, 1, dtype=dtype, device=c.device), c], dim=-1)
    system = torch.zeros(batch, count + 3, count + 3, dtype=dtype, device=c.device)
    system[:, :count, :count] = kernel
    system[:, :count, count:] = affine
    system[:, count:, :count] = affine.transpose(1, 2)
    rhs = torch.cat([values.to(dtype), torch.zeros(batch, 3, 2, dtype=dtype, device=c.device)], dim=1)
    solution = torch.linalg.solve(system, rhs).to(centres.dtype)
    q = queries.to(centres).expand(batch, -1, -1)
    basis = _tps_kernel(q, centres)
    q_affine = torch.cat([torch.ones_like(q[..., :1]), q], dim=-1)
    return basis @ solution[:, :count] + q_affine @ solution[:, count:]


def _tps_kernel(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """``U(r) = r^2 log r`` between every point and centre (exactly 0 at r = 0)."""
    # one batched matmul: [x, y, |p|^2, 1] . [-2cx, -2cy, 1, |c|^2] = |p - c|^2
    left = torch.cat([points, points.square().sum(-1, keepdim=True), torch.ones_like(points[..., :1])], -1)
    right = torch.cat([-2 * centres, torch.ones_like(centres[..., :1]), centres.square().sum(-1, keepdim=True)], -1)
    squared = torch.bmm(left, right.transpose(1, 2)).clamp_min_(0)
    return squared.add(1e-30).log_().mul_(squared).mul_(0.5)


def _border_points(width: int, height: int, device: torch.device) -> torch.Tensor:
    steps = torch.linspace(0, 1, BORDER_POINTS, device=device)
    inner = steps[1:-1]
    edges = [torch.stack([x, y], -1) for x, y in (
        (steps, torch.zeros_like(steps)), (steps, torch.ones_like(steps)),
        (torch.zeros_like(inner), inner), (torch.ones_like(inner), inner),
    )]  # fmt: skip
    return (torch.cat(edges) * torch.tensor([width, height], device=device))[None]


def _pixel_centres(resolution: int, device: torch.device) -> torch.Tensor:
    """Normalised (x, y) of the pixel centres of a ``resolution`` square grid (``align_corners=False``), row-major."""
    return _pixel_centres_grid(resolution, resolution, device).view(-1, 2)


def _pixel_centres_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    ys = (torch.arange(height, device=device, dtype=torch.float32) * 2 + 1) / height - 1
    xs = (torch.arange(width, device=device, dtype=torch.float32) * 2 + 1) / width - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1)[None]


def fit_displacement_model(
    neutral: np.ndarray, expressive: np.ndarray, aus: np.ndarray, *, landmarks: list[int] | None = None
) -> dict[str, Any]:
    """Least-squares per-AU landmark shifts from paired frames (neutral, expressive landmarks, AUs of the latter).

    Shifts are expressed like :file:`warp_model.json` (face frame, inter-ocular units, at intensity 5), one group per
    landmark; the anchors and mirror pairs of the default model are kept."""
    neutral, expressive = np.asarray(neutral, np.float64), np.asarray(expressive, np.float64)
    weights = np.asarray(aus, np.float64) / AU_MAX
    if neutral.shape != expressive.shape or neutral.shape[1:] != (NUM_LANDMARKS, 2) or len(weights) != len(neutral):
        raise MiexInputError("need M x 478 x 2 neutral and expressive landmarks and M x 17 AUs", field="landmarks")
    axis = neutral[:, RIGHT_IRIS] - neutral[:, LEFT_IRIS]
    interocular = np.linalg.norm(axis, axis=1, keepdims=True)
    across = axis / interocular
    down = np.stack([-across[:, 1], across[:, 0]], -1)
    delta = (expressive - neutral) / interocular[:, None]
    local = np.stack([(delta * across[:, None]).sum(-1), (delta * down[:, None]).sum(-1)], -1)
    chosen = landmarks if landmarks is not None else list(range(NUM_LANDMARKS))
    solution, *_ = np.linalg.lstsq(weights, local[:, chosen].reshape(len(weights), -1), rcond=None)
    solution = solution.reshape(NUM_AUS, len(chosen), 2)
    base = default_model()
    fitted = {name: [{"landmarks": [int(lm)], "shift": [round(float(v), 5) for v in solution[a, k]]}
                     for k, lm in enumerate(chosen) if np.abs(solution[a, k]).max() > 1e-3]
              for a, name in enumerate(AU_NAMES)}  # fmt: skip
    return {"description": "fitted by fit_displacement_model", "version": 1, "anchors": base["anchors"],
            "mirror_pairs": base["mirror_pairs"], "aus": {k: v for k, v in fitted.items() if v},
            "shading": base.get("shading", {})}  # fmt: skip
