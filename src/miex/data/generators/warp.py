"""A training-free generator: move facial landmarks as the FACS motion model says, warp, then render occlusion.

Pipeline per frame (docs/reference.md §Warp generator):

1. targets = source landmarks + the motion model's shifts for the requested AUs (face frame, IOD units), extended
   to every vertex of the face mesh (:func:`~.mesh_warp.dense_basis`), then folds removed: skin a feature would
   pass over is dragged along (:func:`~.mesh_warp.untangle`);
2. a piecewise-affine map over MediaPipe's face mesh (and a ring of triangles out to the fixed crop border) gives
   every output pixel its source position -- exact at every landmark, no solve per frame -- quantised to 1/4096 of
   the crop (so float rounding cannot flip a pixel between runs, batch sizes or process counts);
3. ``grid_sample`` warps the face and squeezed skin is shaded as a fold; upper lids rise off an unmoved eye (AU05)
   and close by occlusion (AU45), the mouth opening is redrawn with teeth that move like teeth, and the appearance
   cues (wrinkles, furrows, nasolabial fold, dimples) are shaded on, in warm shadow tones.

The output depends on (face, landmarks, AUs) only: every step is computed per face, never across the batch.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F

from miex.core.errors import MiexInputError
from miex.data.aus.motion import DEFAULT_MODEL_NAME, MotionModel
from miex.data.aus.schema import AU_INDEX, AU_NAMES, NUM_AUS, to_generator_scale
from miex.data.faces.mesh import LOWER_LID, NUM_LANDMARKS, UPPER_LID
from miex.data.generators.base import FaceGenerator
from miex.data.generators.grid import to_uint8
from miex.data.generators.mesh_warp import MESH_VERTICES, MeshWarp, dense_basis, foreshortening, untangle
from miex.data.generators.warp_render import (
    LocalFrames,
    appearance_shading,
    close_lids,
    colourfulness,
    fold_darkening,
    raise_lids,
    redraw_mouth,
    shade,
)

CONFIG_NAME = "config.json"
"""Beside the motion model in a ``save_pretrained`` folder: the generator's other settings (``appearance``)."""
FIELD_QUANTUM = 4096.0
RENDER_CHUNK = 16
"""Rows rendered together (bounds the memory of the per-pixel steps)."""


class WarpGenerator(FaceGenerator):
    """Landmark-driven warp with occlusion-aware lids and lips; no weights, any device, deterministic.

    Faces without given landmarks are measured with the MediaPipe landmarker (imported only then)."""

    name = "warp"
    needs_landmarks = True

    def __init__(
        self,
        motion: MotionModel | dict[str, Any] | str | PathLike[str] | None = None,
        *,
        appearance: bool = True,
    ) -> None:
        self.motion = motion if isinstance(motion, MotionModel) else load_motion_model(motion)
        self.motion_path = None if motion is None else self.motion.source
        self.appearance = appearance
        self.control = list(self.motion.control)
        # AU -> shift of all 468 mesh vertices, made now so that a malformed model fails here, not mid-run
        self._dense = torch.tensor(_checked(self.motion, lambda: dense_basis(self.motion)))
        self._mesh: MeshWarp | None = None

    @classmethod
    def from_pretrained(
        cls, pretrained: str | PathLike[str] | None = None, *, revision: str | None = None, **kwargs: Any
    ) -> Self:
        """The built-in motion model (None), a ``save_pretrained`` folder, a Hub model repo ``ORG/NAME`` at
        ``revision``, or a motion-model JSON file; ``kwargs`` (``appearance``) override the folder's settings."""
        if pretrained is None:
            if revision is not None:
                raise MiexInputError("--revision needs a Hub repo in --warp-model", field="revision")
            return cls(**kwargs)
        from miex.data.hub import resolve_pretrained

        found = resolve_pretrained(
            pretrained,
            revision=revision,
            required=(DEFAULT_MODEL_NAME,),
            optional=(CONFIG_NAME,),
            option="--warp-model",
        )
        settings = _read_settings(found.path / CONFIG_NAME) if found.path.is_dir() else {}
        generator = cls(found.path, **{**settings, **kwargs})
        generator.motion_path, generator.revision = found.source, found.revision
        return generator

    def save_pretrained(self, folder: str | PathLike[str]) -> Path:
        """``folder/facs_motion.json`` (the motion model), ``config.json`` (settings) and a model card."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / DEFAULT_MODEL_NAME).write_text(json.dumps(self.motion.raw, indent=2) + "\n", encoding="utf-8")
        settings = {"generator": self.name, "appearance": self.appearance, "model_sha256": self.motion.digest}
        (folder / CONFIG_NAME).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        (folder / "README.md").write_text(WARP_CARD.format(digest=self.motion.digest), encoding="utf-8")
        return folder

    @property
    def config(self) -> dict[str, Any]:
        settings = {
            "name": self.name,
            "model": self.motion_path or DEFAULT_MODEL_NAME,
            "model_sha256": self.motion.digest,
            "appearance": self.appearance,
            "geometry": "piecewise-affine over the face mesh",
            "format": self.motion.settings.format,
        }
        return settings | ({"revision": self.revision} if self.revision else {})

    def detect_landmarks(self, faces: torch.Tensor) -> torch.Tensor:
        """Measure 478 landmarks per face with MediaPipe; a face it cannot find is an error naming its index."""
        from miex.data.generators.mediapipe_face import measure_face

        points = []
        for index, image in enumerate(to_uint8(faces)):
            measured = measure_face(image)
            if measured is None:
                raise MiexInputError("no face found by the landmarker; pass landmarks= explicitly", row=index)
            points.append(torch.from_numpy(measured.landmarks))
        return torch.stack(points).to(faces.device)

    def targets(self, landmarks: torch.Tensor, aus: torch.Tensor) -> torch.Tensor:
        """All 478 landmarks where the AUs move them: the model's landmarks exactly, the other mesh vertices with
        their neighbours (:func:`dense_basis`); irises stay, and lid closure is occlusion (AU45), not motion."""
        moved = landmarks.clone()
        # a sum per element, not a matrix product: batch-free rounding
        local = (to_generator_scale(aus.double())[:, :, None, None] * self._dense[None]).sum(1)
        frames = LocalFrames(landmarks.double(), 1, 1)
        # drawn on a frontal face: across-the-face motion shrinks where a turned face foreshortens the skin
        across = local[..., :1] * foreshortening(frames.to_local(landmarks[:, :MESH_VERTICES].double()))[..., None]
        shift = across * frames.across[:, None] + local[..., 1:] * frames.down[:, None]
        moved[:, :MESH_VERTICES] = (landmarks[:, :MESH_VERTICES].double() + shift * frames.iod[:, None, None]).to(
            landmarks.dtype
        )
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
                raise MiexInputError(
                    f"landmarks must be N x 478 x 2 pixel coordinates, got {tuple(points.shape)}", field="landmarks"
                )
        output = faces.clone()  # rows with zero AUs stay the input, bit for bit
        rows = torch.nonzero(moving).flatten()
        for start in range(0, len(rows), RENDER_CHUNK):
            chunk = rows[start : start + RENDER_CHUNK]
            output[chunk] = self._render(faces[chunk], points[chunk], aus[chunk])
        return output

    def _grid(
        self, landmarks: torch.Tensor, target: torch.Tensor, height: int, width: int, around: list[int] | None = None
    ) -> torch.Tensor:
        """Per-row sampling grids, quantised to 1/4096 of the crop (exact in float32): float rounding elsewhere can
        then never flip a sample position between runs, batch sizes or thread counts. ``around``: landmarks whose
        own box (per row, plus a margin) is the only part of the grid that is needed."""
        if self._mesh is None:
            self._mesh = MeshWarp()
        sources, targets = landmarks.double().cpu().numpy(), target.double().cpu().numpy()
        moving = (targets[:, :MESH_VERTICES] != sources[:, :MESH_VERTICES]).any(axis=(1, 2))
        if moving.any():  # folds removed for all rows at once (each row's result is its own)
            targets = targets.copy()
            mesh = np.s_[:MESH_VERTICES]
            targets[moving, mesh] = untangle(sources[moving, mesh], targets[moving, mesh], self._mesh.face_triangles)
        boxes = None if around is None else [_box(s, t, around) for s, t in zip(sources, targets, strict=True)]
        grids = self._mesh.grids(sources, targets, height, width, boxes, quantum=FIELD_QUANTUM)
        return torch.from_numpy(grids).float().to(target.device)

    def _raise_lids(
        self,
        faces: torch.Tensor,
        frames: torch.Tensor,
        landmarks: torch.Tensor,
        aus: torch.Tensor,
        target: torch.Tensor,
    ) -> torch.Tensor:
        """AU05 by occlusion: the eye rendered as without AU05, uncovered by the raised lid (:func:`raise_lids`);
        ``target``: the landmarks with every AU, AU05 included."""
        _, _, height, width = faces.shape
        still = aus.clone()
        still[:, AU_INDEX["AU05"]] = 0
        rest = self.targets(landmarks, still)
        eye = F.grid_sample(
            faces,
            self._grid(landmarks, rest, height, width, EYE_LANDMARKS),
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )
        local = LocalFrames(landmarks, height, width)
        return raise_lids(frames, eye, rest, target, local, self.motion.eyelids.raising)

    def _render(self, faces: torch.Tensor, landmarks: torch.Tensor, aus: torch.Tensor) -> torch.Tensor:
        """Frames of moving rows. The sampling grid is made per row; every later step is per pixel and applied only
        to the rows that need it, so no row's bytes depend on the other rows of the chunk."""
        _, _, height, width = faces.shape
        target = self.targets(landmarks, aus)
        grid = self._grid(landmarks, target, height, width)
        # skin brought in from beyond the crop (a chin below the edge, lifted) mirrors the edge, not its last row
        frames = F.grid_sample(faces, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        colourful = colourfulness(faces)
        if self.appearance:  # skin squeezed into folds is shaded first: the eye and mouth drawn next are not skin
            self._shade(frames, fold_darkening(grid, self.motion.shading.folds), colourful)
        raising = torch.nonzero(aus[:, AU_INDEX["AU05"]] > 0).flatten()
        if len(raising):
            frames[raising] = self._raise_lids(
                faces[raising], frames[raising], landmarks[raising], aus[raising], target[raising]
            )
        lids, mouth = self.motion.eyelids.closing, self.motion.mouth
        if lids is not None:
            closure = to_generator_scale(aus[:, AU_INDEX["AU45"]]) * lids.closure_at_5
            closing = torch.nonzero(closure > 0).flatten()
            if len(closing):
                local = LocalFrames(landmarks[closing], height, width)
                frames[closing] = close_lids(frames[closing], target[closing], local, closure[closing], lids)
        if mouth is not None:
            moving = torch.nonzero(_mouth_changes(landmarks, target, mouth.open_gap)).flatten()
            if len(moving):
                local = LocalFrames(landmarks[moving], height, width)
                frames[moving] = redraw_mouth(
                    frames[moving], faces[moving], landmarks[moving], target[moving], local, mouth, colourful[moving]
                )
        if self.appearance and self.motion.appearance:
            self._shade(frames, self._cue_darkening(target, aus, height, width), colourful)
        return frames.clamp_(0, 1)

    def _shade(self, frames: torch.Tensor, darkening: torch.Tensor, colourful: torch.Tensor) -> None:
        """Shadow ``frames`` in place, in the colours their faces can show (``colourful``: :func:`colourfulness` of
        the input faces); pixels without darkening stay untouched, bit for bit, so only the rows with any and the box
        around their darkened pixels are shaded."""
        rows = torch.nonzero(darkening.flatten(1).amax(1) > 0).flatten()
        if not len(rows):
            return
        every_row = len(rows) == len(frames)
        darkening = darkening if every_row else darkening[rows]
        dark = darkening != 0
        lines = torch.nonzero(dark.any(dim=3).any(dim=1).any(dim=0)).flatten()
        columns = torch.nonzero(dark.any(dim=2).any(dim=1).any(dim=0)).flatten()
        y, x = slice(int(lines[0]), int(lines[-1]) + 1), slice(int(columns[0]), int(columns[-1]) + 1)
        tint = self.motion.shading.tint
        if every_row:
            frames[..., y, x] = shade(frames[..., y, x], darkening[..., y, x], tint, colourful)
        else:
            frames[rows, :, y, x] = shade(frames[rows, :, y, x], darkening[..., y, x], tint, colourful[rows])

    def _cue_darkening(self, target: torch.Tensor, aus: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """The appearance cues of the AUs (N x 1 x H x W); smooth, so drawn at half resolution and upsampled."""
        darkening = torch.zeros(len(target), 1, height, width, dtype=target.dtype, device=target.device)
        cues = [AU_INDEX[au] for au in self.motion.appearance]
        shaded = torch.nonzero((aus[:, cues] > 0).any(dim=1)).flatten()
        if len(shaded):
            half = LocalFrames(target[shaded] * 0.5, max(height // 2, 1), max(width // 2, 1))
            drawn = appearance_shading(target[shaded] * 0.5, half, aus[shaded], self.motion.appearance)
            if drawn is not None:
                darkening[shaded] = F.interpolate(drawn, size=(height, width), mode="bilinear", align_corners=False)
        return darkening


WARP_CARD = """---
library_name: miex
tags: [miex, micro-expression, action-units, face-warp]
---

# miex warp generator: FACS motion model

The motion model (`facs_motion.json`, sha256 prefix `{digest}`) of miex's training-free warp generator: per action
unit, how landmarks move (docs/reference.md §Warp generator). `config.json` holds the generator's other settings.

```python
from miex.data.generators import load_generator

warp = load_generator("warp", "ORG/NAME")     # or: miex synthesize --warp-model ORG/NAME
```
"""


def _read_settings(path: Path) -> dict[str, Any]:
    """The ``appearance`` setting of a save_pretrained folder (a folder holding only the motion model: none)."""
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise MiexInputError(f"not readable JSON ({error})", file=path) from error
    if not isinstance(settings, dict) or not isinstance(settings.get("appearance", True), bool):
        raise MiexInputError('expected {"appearance": true|false, ...}', file=path, field="appearance")
    return {key: settings[key] for key in ("appearance",) if key in settings}


MOTION_MODEL_HINT = "start from a copy of the built-in facs_motion.json (docs/reference.md §Warp generator)"


def _checked(motion: MotionModel | str | PathLike[str] | dict[str, Any] | None, build: Any) -> Any:
    """``build()``, with a malformed motion model (wrong types, too few landmarks) reported as the user's file."""
    source = getattr(motion, "source", motion if isinstance(motion, str | PathLike) else None)
    try:
        return build()
    except MiexInputError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError, IndexError, np.linalg.LinAlgError) as error:
        reason = f"not a usable motion model ({type(error).__name__}: {error}); {MOTION_MODEL_HINT}"
        raise MiexInputError(reason, file=source) from error


def load_motion_model(model: dict[str, Any] | str | PathLike[str] | None) -> MotionModel:
    """:meth:`MotionModel.load`, which checks every key the warp reads, with anything else wrong reported as the
    user's file."""
    return _checked(model, lambda: MotionModel.load(model))


EYE_LANDMARKS = sorted({*UPPER_LID["left"], *UPPER_LID["right"], *LOWER_LID["left"], *LOWER_LID["right"]})
EYE_MARGIN = 4
"""Pixels around the lids in which the unraised eye is rendered (covers the lid rise and the bilinear taps)."""


def _box(source: np.ndarray, target: np.ndarray, landmarks: list[int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixel box around ``landmarks`` of one row, source and target, plus ``EYE_MARGIN``."""
    points = np.concatenate([source[landmarks], target[landmarks]])
    low = np.floor(points.min(0)).astype(np.int64) - EYE_MARGIN
    high = np.ceil(points.max(0)).astype(np.int64) + EYE_MARGIN + 1
    return int(low[0]), int(low[1]), int(high[0]), int(high[1])


def _mouth_changes(source: torch.Tensor, target: torch.Tensor, open_gap: float) -> torch.Tensor:
    """Per row: whether the mouth opening must be redrawn: the inner lips move apart anywhere (a cavity opens), or
    they move at all around a mouth open by ``open_gap`` IOD or more (its teeth must not stretch with them)."""
    from miex.data.faces.mesh import LOWER_INNER_LIP, UPPER_INNER_LIP

    frames = LocalFrames(source, 1, 1)

    def gap(points: torch.Tensor) -> torch.Tensor:
        local = frames.to_local(points)
        return local[:, list(LOWER_INNER_LIP), 1] - local[:, list(UPPER_INNER_LIP), 1]

    lips = list(UPPER_INNER_LIP) + list(LOWER_INNER_LIP)
    parting = (gap(target) - gap(source) > 1e-3).any(dim=1)
    lips_move = (target[:, lips] != source[:, lips]).any(dim=2).any(dim=1)
    was_open = (gap(source) >= open_gap).any(dim=1)
    return parting | (lips_move & was_open)


def fit_displacement_model(
    neutral: np.ndarray, expressive: np.ndarray, aus: np.ndarray, *, landmarks: list[int] | None = None
) -> dict[str, Any]:
    """Least-squares per-AU landmark shifts from paired frames (neutral, expressive landmarks, AUs of the latter).

    Shifts are expressed like :file:`facs_motion.json` (face frame, IOD units, at intensity 5, as on a frontal face:
    the across shifts of a turned face are divided by its :func:`foreshortening`), one group per
    landmark; anchors, mirror pairs, lids, mouth, couplings and appearance cues of the default model are kept."""
    from miex.data.faces.mesh import face_frame

    neutral, expressive = np.asarray(neutral, np.float64), np.asarray(expressive, np.float64)
    aus = np.asarray(aus, np.float64)
    if neutral.shape != expressive.shape or neutral.shape[1:] != (NUM_LANDMARKS, 2) or len(aus) != len(neutral):
        raise MiexInputError("need M x 478 x 2 neutral and expressive landmarks and M x 17 AUs", field="landmarks")
    try:
        weights = to_generator_scale(aus)
    except ValueError as error:
        raise MiexInputError(str(error), field="aus") from error
    pairs = zip(neutral, expressive, strict=True)
    local = np.stack([face_frame(n).to_local(e) - face_frame(n).to_local(n) for n, e in pairs])
    # the model is drawn on a frontal face: undo the foreshortening :meth:`WarpGenerator.targets` applies
    faces = torch.from_numpy(neutral)
    factors = foreshortening(LocalFrames(faces, 1, 1).to_local(faces[:, :MESH_VERTICES])).numpy()
    local[:, :MESH_VERTICES, 0] /= factors
    chosen = landmarks if landmarks is not None else list(range(NUM_LANDMARKS))
    solution, *_ = np.linalg.lstsq(weights, local[:, chosen].reshape(len(weights), -1), rcond=None)
    solution = solution.reshape(NUM_AUS, len(chosen), 2)
    base = MotionModel.load()
    fitted = {
        name: [
            {"landmarks": [int(lm)], "shift": [round(float(v), 5) for v in solution[a, k]]}
            for k, lm in enumerate(chosen)
            if np.abs(solution[a, k]).max() > 1e-3
        ]
        for a, name in enumerate(AU_NAMES)
    }
    keep = ("format", "anchors", "mirror_pairs", "eyelids", "mouth", "couplings", "appearance")
    return {
        **{k: base.raw[k] for k in keep if k in base.raw},
        "description": "fitted by fit_displacement_model",
        "version": base.settings.version,
        "aus": {k: v for k, v in fitted.items() if v},
    }
