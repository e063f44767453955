"""AU fidelity of a generator: sweep every AU, re-measure the frames with a judge, compare (and check identity).

Judges (each a different instrument, each with blind spots the report names):

- ``geometry``: :mod:`miex_dataset.faces.au_geometry` on MediaPipe landmarks re-detected on the frame, as change
  from the input face. It inverts the same motion model the warp renders, so for the warp it confirms that the
  motion is *visible to a landmarker*, not that it is the right motion; it cannot see wrinkles or shading.
- ``blendshapes``: MediaPipe's blendshape head (docs/reference.md §AU extraction), as change from the input face:
  a separately trained network, but fed by the same landmark mesh; cheekSquint and noseSneer are nearly dead.

Neither replaces an OpenFace-grade appearance judge; use ``miex extract-aus --backend openface`` on the grid frames
for that.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..aus.schema import AU_INDEX, AU_NAMES, NUM_AUS, au_vector
from ..errors import MiexInputError
from ..faces.image import FACE_IMAGE_SUFFIXES
from ..fileio import atomic_path
from .base import FaceGenerator
from .grid import image_grid, to_uint8

JUDGES: dict[str, str] = {
    "geometry": "MediaPipe landmarks re-detected on each frame, AUs as change from the input face by inverting the "
    "FACS motion model (miex_dataset.faces.au_geometry). Blind spots: shares the warp's motion model, so it checks "
    "that motion is visible, not that it is anatomically right; blind to texture (wrinkles, furrows, shading); "
    "MediaPipe's mesh under-follows cheek (AU06), nose (AU09) and lip-red (AU23) motion.",
    "blendshapes": "MediaPipe's blendshape head, mean of left/right x 5, as change from the input face. Blind "
    "spots: driven by the same landmark mesh; cheekSquint (AU06) and noseSneer (AU09) barely respond; reads resting "
    "state (hence change, not level).",
}

EMOTIONS: dict[str, tuple[str, ...]] = {
    "happiness": ("AU06", "AU12"),
    "surprise": ("AU01", "AU02", "AU05", "AU26"),
    "sadness": ("AU01", "AU04", "AU15"),
    "disgust": ("AU09", "AU10", "AU17"),
    "anger": ("AU04", "AU05", "AU07", "AU23"),
    "fear": ("AU01", "AU02", "AU04", "AU05", "AU20", "AU25"),
}
"""Prototypical AU combinations (EMFACS-style), animated at a common intensity."""

ASTRONAUT_BOX = (40, 140, 170)
"""(top, left, side) of the face in ``skimage.data.astronaut()``, from MediaPipe landmarks (x 181-270, y 72-177)."""


def astronaut_face(size: int = 128) -> torch.Tensor:
    """The public-domain test face, cropped around the face and resized: 1 x 3 x size x size in [0, 1]."""
    from skimage import data

    top, left, side = ASTRONAUT_BOX
    crop = Image.fromarray(data.astronaut()[top : top + side, left : left + side]).resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.array(crop)).permute(2, 0, 1)[None].float() / 255


def load_faces(folder: str | PathLike[str], size: int = 128, limit: int | None = None) -> torch.Tensor:
    """Aligned face crops: a face pool folder (its ``index.parquet``), its ``crops/``, or a folder of images.

    Everything that can be wrong with the folder (missing, a file, a garbage index, a missing or undecodable crop)
    is a :class:`MiexInputError` naming the file, raised before any generator work starts."""
    folder = Path(folder)
    if limit is not None and limit < 1:
        raise MiexInputError(f"at least 1 face is needed, got {limit}", field="--max-faces")
    if folder.exists() and not folder.is_dir():
        raise MiexInputError("--faces names a file; give a `miex faces` output folder or a folder of crops",
                             file=folder)  # fmt: skip
    if not folder.is_dir():
        raise MiexInputError("face folder not found", file=folder)
    if (folder / "index.parquet").exists():
        from ..faces.pool import crop_paths, read_index

        files = [Path(name) for name in crop_paths(read_index(folder / "index.parquet"), folder)]
    else:
        root = folder / "crops" if (folder / "crops").is_dir() else folder
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in FACE_IMAGE_SUFFIXES and p.is_file())
    if not files:
        reason = "no face images found (give a `miex faces` output folder or a folder of crops)"
        raise MiexInputError(reason, file=folder)
    faces = []
    for path in files[:limit]:
        if not path.is_file():
            raise MiexInputError("face crop listed in index.parquet is missing; rerun `miex faces`", file=path)
        try:
            with Image.open(path) as image:
                faces.append(np.array(image.convert("RGB").resize((size, size), Image.BICUBIC)))
        except (OSError, ValueError) as error:  # PIL's UnidentifiedImageError is an OSError
            raise MiexInputError(f"not a readable image: {error}", file=path) from error
    return torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2).float() / 255


class Judge:
    """Measure AU change of frames against their input face with one of :data:`JUDGES`."""

    def __init__(self, name: str = "geometry") -> None:
        if name not in JUDGES:
            raise MiexInputError(f"unknown judge {name!r} (choose from {', '.join(JUDGES)})", field="judge")
        from ..faces.au_geometry import GeometricAUEstimator

        self.name = name
        self.geometry = GeometricAUEstimator() if name == "geometry" else None

    def measure(self, frame: torch.Tensor) -> Any:
        """MediaPipe's measurement (landmarks, blendshapes) of one frame, or None when it finds no face."""
        from .mediapipe_face import measure_face

        return measure_face(to_uint8(frame[None])[0])

    def change(
        self, frames: torch.Tensor, neutral: Any, on_frame: Callable[[], object] | None = None
    ) -> tuple[np.ndarray, list[np.ndarray | None]]:
        """(N x 17) judged change from ``neutral`` (NaN where no face) and the re-detected landmarks; ``on_frame``
        is called after each frame (progress)."""
        from ..faces.au_extract import blendshapes_to_aus

        result = np.full((len(frames), NUM_AUS), np.nan, dtype=np.float32)
        points: list[np.ndarray | None] = []
        base = None if self.geometry else blendshapes_to_aus(neutral.blendshapes)
        for row, frame in enumerate(frames):
            measured = self.measure(frame)
            if on_frame is not None:
                on_frame()
            points.append(None if measured is None else measured.landmarks)
            if measured is None:
                continue
            if self.geometry is not None:
                result[row] = self.geometry.estimate(measured.landmarks_3d, neutral.landmarks_3d).aus
            else:
                result[row] = blendshapes_to_aus(measured.blendshapes) - base
        return result, points


def _targets(intensities: Sequence[float]) -> tuple[list[str], np.ndarray]:
    """Row labels and AU vectors: every single AU, then every emotion, at each intensity (row-major)."""
    labels = list(AU_NAMES) + list(EMOTIONS)
    vectors = [au_vector(**{au: v}) for au in AU_NAMES for v in intensities]
    vectors += [au_vector(**dict.fromkeys(aus, v)) for aus in EMOTIONS.values() for v in intensities]
    return labels, np.stack(vectors)


def _fit(requested: np.ndarray, measured: np.ndarray) -> dict[str, float | None]:
    keep = np.isfinite(measured)
    x, y = requested[keep], measured[keep]
    if len(x) < 3 or np.ptp(x) == 0:
        return {"correlation": None, "slope": None, "n": len(x)}
    slope = float(np.polyfit(x, y, 1)[0])
    correlation = float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 0 else 0.0
    return {"correlation": correlation, "slope": slope, "n": len(x)}


def _identity(frames: torch.Tensor, face: torch.Tensor) -> tuple[list[float], list[float]]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    reference = to_uint8(face[None])[0]
    psnr, ssim = [], []
    for image in to_uint8(frames):
        if np.array_equal(image, reference):
            continue  # identical frames (zero AUs) would give infinite PSNR
        psnr.append(float(peak_signal_noise_ratio(reference, image, data_range=255)))
        ssim.append(float(structural_similarity(reference, image, channel_axis=-1, data_range=255)))
    return psnr, ssim


def evaluate_generator(
    generator: FaceGenerator,
    faces: torch.Tensor,
    *,
    intensities: Sequence[float] = (0, 1, 2, 3, 4, 5),
    grid_path: str | PathLike[str] | None = None,
    judge: str = "geometry",
    grid_faces: int = 4,
    progress: bool = True,
) -> dict[str, Any]:
    """Sweep every single AU and emotion prototype on every face; report per AU correlation, slope, change at the
    top intensity, monotonicity, delivered landmark motion and the leak into the other AUs. ``progress``: a bar on
    stderr over every judged frame (faces x AU/emotion sweeps x intensities)."""
    from tqdm.auto import tqdm

    judge_tool = Judge(judge)
    labels, targets = _targets(intensities)
    steps = len(intensities)
    requested, measured = [], []
    delivered: dict[str, dict[str, list[float]]] = {au: {"landmarks": [], "pixels": []} for au in AU_NAMES}
    psnr, ssim, grid_rows = [], [], []
    bar = tqdm(total=len(faces) * len(targets), desc=f"eval-generator {len(faces)} face(s) x {len(labels)} sweeps",
               unit="frame", disable=not progress)  # fmt: skip
    with bar:
        for number, face in enumerate(faces):
            bar.set_postfix_str(f"face {number + 1}/{len(faces)}")
            _evaluate_face(
                generator,
                judge_tool,
                face,
                number,
                targets,
                steps,
                bar.update,
                (requested, measured, delivered, psnr, ssim),
                grid_rows if number < grid_faces else None,
            )
    requested_all, measured_all = np.concatenate(requested), np.concatenate(measured)
    position = np.arange(len(requested_all)) % len(targets)
    single = position < NUM_AUS * steps
    top = np.isclose(requested_all.max(axis=1), max(intensities)) & single
    fidelity, leaks = {}, {}
    for i, au in enumerate(AU_NAMES):
        rows = single & (position // steps == i)
        entry = _fit(requested_all[rows, i], measured_all[rows, i])
        at_top = measured_all[rows & top]
        entry["change_at_top"] = _mean(list(at_top[:, i][np.isfinite(at_top[:, i])]))
        entry["monotonic"] = _monotonic(measured_all[rows, i].reshape(-1, steps))
        entry["delivered_motion"] = _mean(delivered[au]["landmarks"])
        entry["delivered_motion_pixels"] = _mean(delivered[au]["pixels"])
        fidelity[au] = entry
        leaks[au] = {
            other: _round(np.nanmean(at_top[:, j])) for j, other in enumerate(AU_NAMES) if j != i and len(at_top)
        }
    emotions = {}
    for e, (emotion, aus) in enumerate(EMOTIONS.items()):
        rows = position // steps == NUM_AUS + e
        columns = [AU_INDEX[au] for au in aus]
        emotions[emotion] = _fit(requested_all[rows][:, columns].ravel(), measured_all[rows][:, columns].ravel())
    if grid_path is not None and grid_rows:
        _save_grid(grid_rows, labels, intensities, grid_path)
    correlations = [v["correlation"] for v in fidelity.values() if v["correlation"] is not None]
    model = getattr(generator, "motion", None)
    return {
        "generator": generator.name,
        "generator_config": generator.config,
        "judge": {"name": judge, "description": JUDGES[judge]},
        "faces": len(faces),
        "intensities": [float(v) for v in intensities],
        "au_fidelity": fidelity,
        "mean_correlation": float(np.mean(correlations)) if correlations else None,
        "leaks_at_top": leaks,
        "declared_couplings": model.couplings() if model is not None else {},
        "emotions": emotions,
        "identity": {"psnr_db": _mean(psnr), "ssim": _mean(ssim), "frames": len(psnr), "region": "whole frame"},
        "grid": None if grid_path is None else str(grid_path),
    }


def _evaluate_face(
    generator: FaceGenerator, judge: Judge, face: torch.Tensor, number: int, targets: np.ndarray, steps: int,
    on_frame: Callable[[], object], results: tuple[list, list, dict, list, list], grid_rows: list | None,
) -> None:  # fmt: skip
    """Render every target on one face and append its judged change, delivered motion and identity scores to
    ``results`` (requested, measured, delivered, psnr, ssim); its frames go to ``grid_rows`` when given."""
    requested, measured, delivered, psnr, ssim = results
    neutral = judge.measure(face)
    if neutral is None:
        raise MiexInputError("the landmarker finds no face in an input face", row=number, field="faces")
    kwargs: dict[str, Any] = {}
    if generator.needs_landmarks:
        kwargs["landmarks"] = torch.from_numpy(neutral.landmarks)[None].expand(len(targets), -1, -1)
    frames = generator(face[None].expand(len(targets), -1, -1, -1), targets, seed=0, **kwargs)
    if grid_rows is not None:
        grid_rows.append(frames)
    judged, redetected = judge.change(frames, neutral, on_frame)
    requested.append(targets)
    measured.append(judged)
    _delivered_motion(generator, face, frames, neutral.landmarks, targets, redetected, steps, delivered)
    face_psnr, face_ssim = _identity(frames, face)
    psnr += face_psnr
    ssim += face_ssim


def _round(value: float) -> float | None:
    return None if not math.isfinite(float(value)) else round(float(value), 3)


def _monotonic(sweeps: np.ndarray, tolerance: float = 0.05) -> bool | None:
    """Every face's judged change never drops by more than ``tolerance`` as the intensity rises."""
    finite = np.isfinite(sweeps).all(axis=1)
    if not finite.any():
        return None
    return bool((np.diff(sweeps[finite], axis=1) >= -tolerance).all())


def _delivered_motion(
    generator: FaceGenerator, face: torch.Tensor, frames: torch.Tensor, neutral: np.ndarray, targets: np.ndarray,
    redetected: list[np.ndarray | None], steps: int, out: dict[str, dict[str, list[float]]],
) -> None:  # fmt: skip
    """Delivered motion at the top intensity of each single-AU sweep, by two instruments (only for generators that
    say where landmarks should go):

    - ``landmarks``: re-detected landmark motion projected on the intended motion (all moving landmarks; inherits
      the landmarker's shape prior, which under-follows brows, cheeks and nose);
    - ``pixels``: patch tracking from the input face into the frame (:mod:`.tracking`), the median gain over the
      landmarks the AU moves most (at least half its largest shift); blind where a patch is covered (lids,
      mouth cavity) or stretched."""
    if not hasattr(generator, "targets"):
        return
    from ..faces.mesh import face_frame
    from .tracking import delivered_ratio, track_points

    frame = face_frame(neutral)
    before = to_uint8(face[None])[0]
    iod = frame.interocular
    for a, au in enumerate(AU_NAMES):
        row = a * steps + steps - 1
        if au == "AU45":
            continue
        aimed = generator.targets(torch.from_numpy(neutral)[None], torch.from_numpy(targets[row : row + 1]))[0].numpy()
        want = frame.to_local(aimed) - frame.to_local(neutral)
        size = np.linalg.norm(want, axis=1)
        if size.max() <= 0.01:
            continue
        if redetected[row] is not None:
            moving = size > 0.01
            got = frame.to_local(redetected[row]) - frame.to_local(neutral)
            out[au]["landmarks"].append(delivered_ratio(want[moving], got[moving]))
        main = np.flatnonzero(size >= 0.5 * size.max())
        shift_px, found = track_points(before, to_uint8(frames[row : row + 1])[0], neutral[main],
                                       radius=max(3, round(0.08 * iod)), search=round(0.3 * iod) + 2)  # fmt: skip
        if found.any():
            intended = (aimed - neutral)[main][found]
            gains = (intended * shift_px[found]).sum(1) / (intended * intended).sum(1)
            out[au]["pixels"].append(float(np.median(gains)))


def _save_grid(rows: list[torch.Tensor], labels: list[str], intensities: Sequence[float], path: Any) -> None:
    """One block of rows per face (every label x intensity), faces stacked vertically."""
    steps = len(intensities)
    blocks = []
    for f, frames in enumerate(rows):
        for r, label in enumerate(labels):
            blocks.append((frames[r * steps : (r + 1) * steps], f"face {f} {label}"))
    grid = image_grid([b for b, _ in blocks], row_labels=[name for _, name in blocks],
                      column_labels=[f"{v:g}" for v in intensities])  # fmt: skip
    with atomic_path(path, suffix=Path(path).suffix) as temporary:
        grid.save(temporary)


def summary(report: dict[str, Any]) -> str:
    """A readable table of the report."""
    header = f"{'AU':<5} {'r':>6} {'slope':>6} {'d@top':>6} {'mono':>5} {'motion':>7} {'pixels':>7}  leaks >= 0.5"
    lines = [f"{report['generator']} judged by {report['judge']['name']} on {report['faces']} face(s)", header]
    for au, entry in report["au_fidelity"].items():
        leaks = [f"{k}{'*' if k in report['declared_couplings'].get(au, {}) else ''} {v:.1f}"
                 for k, v in report["leaks_at_top"].get(au, {}).items() if v is not None and v >= 0.5]  # fmt: skip
        lines.append(f"{au:<5} {_fmt(entry['correlation']):>6} {_fmt(entry['slope']):>6} "
                     f"{_fmt(entry['change_at_top']):>6} {str(entry['monotonic'])[:5]:>5} "
                     f"{_fmt(entry['delivered_motion']):>7} {_fmt(entry.get('delivered_motion_pixels')):>7}  "
                     f"{', '.join(leaks)}")  # fmt: skip
    lines.append(f"mean r {_fmt(report['mean_correlation'])}; identity PSNR {_fmt(report['identity']['psnr_db'])} dB, "
                 f"SSIM {_fmt(report['identity']['ssim'])}; * = declared coupling")  # fmt: skip
    lines.append(f"judge: {report['judge']['description']}")
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def write_report(report: dict[str, Any], path: str | PathLike[str]) -> Path:
    """JSON with NaN written as null (strict JSON readers reject NaN)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return None if isinstance(value, float) and not math.isfinite(value) else value

    path = Path(path)
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(clean(report), indent=2), encoding="utf-8")
    return path
