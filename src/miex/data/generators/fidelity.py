"""AU fidelity of a generator: sweep every AU, re-measure the frames with a judge, compare (and check identity).

Judges (each a different instrument, each with blind spots the report names):

- ``geometry``: :mod:`miex.data.faces.au_geometry` on MediaPipe landmarks re-detected on the frame, as change
  from the input face. It inverts the same motion model the warp renders, so for the warp it confirms that the
  motion is *visible to a landmarker*, not that it is the right motion; it cannot see wrinkles or shading.
- ``blendshapes``: MediaPipe's blendshape head (docs/reference.md §AU extraction), as change from the input face:
  a separately trained network, but fed by the same landmark mesh; cheekSquint and noseSneer are nearly dead.

Neither replaces OpenFace 2.2, the reference (an AU intensity in MiE-X means what OpenFace 2.2 reads): it joins
through files, never as a dependency. ``evaluate_generator(..., export=DIR)`` writes every render with a manifest,
and :mod:`.external_judge` scores the OpenFace-format CSVs a judge wrote for them (``miex eval-generator --export``,
``--judgement``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path
from miex.data.aus.schema import AU_INDEX, AU_NAMES, NUM_AUS, au_vector
from miex.data.faces.image import FACE_IMAGE_SUFFIXES
from miex.data.generators.base import FaceGenerator
from miex.data.generators.grid import image_grid, to_uint8

JUDGES: dict[str, str] = {
    "geometry": "MediaPipe landmarks re-detected on each frame, AUs as change from the input face by inverting the "
    "FACS motion model (miex.data.faces.au_geometry). Blind spots: shares the warp's motion model, so it checks "
    "that motion is visible, not that it is anatomically right; blind to texture (wrinkles, furrows, shading); "
    "MediaPipe's mesh under-follows cheek (AU06), nose (AU09) and lip-red (AU23) motion.",
    "blendshapes": "MediaPipe's blendshape head, mean of left/right x 5, as change from the input face. Blind "
    "spots: driven by the same landmark mesh; cheekSquint (AU06) and noseSneer (AU09) barely respond; reads resting "
    "state (hence change, not level).",
}
JUDGE_LABELS: dict[str, str] = {
    "geometry": "geometry judge: a self-consistency check of the motion model (it inverts the warp's own motion "
    "model; it cannot validate it)",
    "blendshapes": "blendshapes judge: MediaPipe's blendshape head, an uncalibrated proxy on the same landmark mesh "
    "(not a reference)",
}
"""What every report and summary says its judge is, first."""
LEAK_THRESHOLD = 0.3
"""Judged change of another AU at the top intensity listed as a leak (declared couplings listed apart)."""

EMOTIONS: dict[str, tuple[str, ...]] = {
    "happiness": ("AU06", "AU12"),
    "surprise": ("AU01", "AU02", "AU05", "AU26"),
    "sadness": ("AU01", "AU04", "AU15"),
    "disgust": ("AU09", "AU10", "AU17"),
    "anger": ("AU04", "AU05", "AU07", "AU23"),
    "fear": ("AU01", "AU02", "AU04", "AU05", "AU20", "AU25"),
}
"""Prototypical AU combinations (EMFACS-style), animated at a common intensity."""


def builtin_face(size: int = 128) -> torch.Tensor:
    """The built-in face (:func:`~miex.data.faces.builtin.builtin_face_pool`, the aligned astronaut the embedded
    default renders): 1 x 3 x size x size in [0, 1]."""
    from miex.data.faces.builtin import builtin_face_pool

    return load_faces(builtin_face_pool(), size, 1)


def load_faces(folder: str | PathLike[str], size: int = 128, limit: int | None = None) -> torch.Tensor:
    """Aligned face crops: a face pool folder (its ``index.parquet``), its ``crops/``, or a folder of images.

    Everything that can be wrong with the folder (missing, a file, a garbage index, a missing or undecodable crop)
    is a :class:`MiexInputError` naming the file, raised before any generator work starts."""
    folder = Path(folder)
    if limit is not None and limit < 1:
        raise MiexInputError(f"at least 1 face is needed, got {limit}", field="--max-faces")
    if folder.exists() and not folder.is_dir():
        raise MiexInputError(
            "--faces names a file; give a `miex faces` output folder or a folder of crops", file=folder
        )
    if not folder.is_dir():
        raise MiexInputError("face folder not found", file=folder)
    if (folder / "index.parquet").exists():
        from miex.data.faces.pool import crop_paths, read_index

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
        from miex.data.faces.au_geometry import GeometricAUEstimator

        self.name = name
        self.geometry = GeometricAUEstimator() if name == "geometry" else None

    def measure(self, frame: torch.Tensor) -> Any:
        """MediaPipe's measurement (landmarks, blendshapes) of one frame, or None when it finds no face."""
        from miex.data.generators.mediapipe_face import measure_face

        return measure_face(to_uint8(frame[None])[0])

    def change(
        self, frames: torch.Tensor, neutral: Any, on_frame: Callable[[], object] | None = None
    ) -> tuple[np.ndarray, list[np.ndarray | None]]:
        """(N x 17) judged change from ``neutral`` (NaN where no face) and the re-detected landmarks; ``on_frame``
        is called after each frame (progress)."""
        from miex.data.faces.au_extractors import blendshapes_to_aus

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


def sweep_plan(intensities: Sequence[float], aus: Sequence[str] = AU_NAMES) -> tuple[pd.DataFrame, np.ndarray]:
    """What is rendered on every face, in order: each AU of ``aus`` swept over ``intensities``, then each emotion
    prototype whose AUs are all in ``aus``, swept the same way. Returns the rows (``kind`` "sweep" or "emotion",
    ``label`` the AU or emotion, ``intensity``) and their requested 17-AU vectors (rows x 17)."""
    rows, vectors = [], []
    for au in aus:
        rows += [("sweep", au, float(v)) for v in intensities]
        vectors += [au_vector(**{au: v}) for v in intensities]
    for emotion, members in EMOTIONS.items():
        if set(members) <= set(aus):
            rows += [("emotion", emotion, float(v)) for v in intensities]
            vectors += [au_vector(**dict.fromkeys(members, v)) for v in intensities]
    return pd.DataFrame(rows, columns=["kind", "label", "intensity"]), np.stack(vectors)


def _fit(requested: np.ndarray, measured: np.ndarray) -> dict[str, float | None]:
    keep = np.isfinite(measured)
    x, y = requested[keep], measured[keep]
    if len(x) < 3 or np.ptp(x) == 0:
        return {"correlation": None, "slope": None, "n": len(x)}
    slope = float(np.polyfit(x, y, 1)[0])
    correlation = float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 0 else 0.0
    return {"correlation": correlation, "slope": slope, "n": len(x)}


def identity_scores(frames: torch.Tensor, face: torch.Tensor) -> tuple[list[float], list[float]]:
    """PSNR (dB) and SSIM of every frame against ``face`` (frames identical to it are left out)."""
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
    aus: Sequence[str] | None = None,
    export: str | PathLike[str] | None = None,
) -> dict[str, Any]:
    """Sweep every single AU (or only ``aus``) and emotion prototype on every face; report per AU correlation, slope,
    change at the top intensity, monotonicity, delivered landmark motion and the leak into the other AUs.
    ``progress``: a bar on stderr over every judged frame (faces x AU/emotion sweeps x intensities). ``export``: a
    folder that receives every render and input face as PNG with a manifest, for an external judge
    (:mod:`.external_judge`)."""
    from tqdm.auto import tqdm

    judge_tool = Judge(judge)
    plan, targets = sweep_plan(intensities, AU_NAMES if aus is None else aus)
    model = getattr(generator, "motion", None)
    couplings = model.couplings() if model is not None else {}
    exporter = None
    if export is not None:
        from miex.data.generators.external_judge import RenderExport

        info = {"generator": generator.name, "generator_config": generator.config, "declared_couplings": couplings}
        exporter = RenderExport(export, plan, targets, faces=len(faces), size=faces.shape[-1], info=info)
    requested, measured = [], []
    delivered: dict[str, dict[str, list[float]]] = {au: {"landmarks": [], "pixels": []} for au in AU_NAMES}
    psnr, ssim, grid_rows = [], [], []
    sweeps = plan.label.nunique()
    bar = tqdm(
        total=len(faces) * len(targets),
        desc=f"eval-generator {len(faces)} face(s) x {sweeps} sweeps",
        unit="frame",
        disable=not progress,
    )
    with bar:
        for number, face in enumerate(faces):
            bar.set_postfix_str(f"face {number + 1}/{len(faces)}")
            frames = _evaluate_face(
                generator,
                judge_tool,
                face,
                number,
                plan,
                targets,
                bar.update,
                (requested, measured, delivered, psnr, ssim),
            )
            if number < grid_faces:
                grid_rows.append(frames)
            if exporter is not None:
                exporter.add(number, face, frames)
    if exporter is not None:
        exporter.finish()
    rows = pd.concat([plan.assign(face=number) for number in range(len(faces))], ignore_index=True)
    scores = score_sweeps(rows, np.concatenate(requested), np.concatenate(measured), tolerance=0.05)
    for au, entry in scores["au_fidelity"].items():
        entry["delivered_motion"] = _mean(delivered[au]["landmarks"])
        entry["delivered_motion_pixels"] = _mean(delivered[au]["pixels"])
    if grid_path is not None and grid_rows:
        _save_grid(grid_rows, list(dict.fromkeys(plan.label)), intensities, grid_path)
    judge_block = {"name": judge, "label": JUDGE_LABELS[judge], "description": JUDGES[judge]}
    return build_report(
        generator.name,
        generator.config,
        judge_block,
        faces=len(faces),
        intensities=intensities,
        scores=scores,
        couplings=couplings,
        identity=(psnr, ssim),
        grid=None if grid_path is None else str(grid_path),
        export=None if export is None else str(export),
    )


def build_report(
    generator: str,
    config: Any,
    judge: dict[str, Any],
    *,
    faces: int,
    intensities: Sequence[float],
    scores: dict[str, Any],
    couplings: dict[str, dict[str, str]],
    identity: tuple[list[float], list[float]],
    **extra: Any,
) -> dict[str, Any]:
    """The report of any judge: who judged what, :func:`score_sweeps`' scores, the leaks at or above
    :data:`LEAK_THRESHOLD` (declared couplings apart) and identity (PSNR/SSIM of every render against its input);
    ``extra`` keys follow."""
    psnr, ssim = identity
    return {
        "generator": generator,
        "generator_config": config,
        "judge": judge,
        "faces": faces,
        "intensities": [float(v) for v in intensities],
        **scores,
        "declared_couplings": couplings,
        "leaks": leak_list(scores["leaks_at_top"], couplings),
        "identity": {"psnr_db": _mean(psnr), "ssim": _mean(ssim), "frames": len(psnr), "region": "whole frame"},
        **extra,
    }


def score_sweeps(rows: pd.DataFrame, requested: np.ndarray, measured: np.ndarray, *, tolerance: float) -> dict:
    """Scores of judged renders: ``rows`` says what each render is (``face``, ``kind``, ``label``, ``intensity``,
    as :func:`sweep_plan`), ``requested`` and ``measured`` (rows x 17) what was asked and what the judge read as
    change from the same face's input (NaN where it read nothing).

    Per swept AU: Pearson r and slope of judged against requested (pooled over faces and levels), the mean change at
    the top intensity, monotonicity per face (the judged change never drops by more than ``tolerance`` as the level
    rises, over the frames the judge read) and the mean change of every other AU at the top intensity (the
    leak row). Per emotion prototype: r over its own AUs and over all 17 (``all_aus``); ``expert_agreement`` pools
    every prototype render's 17 cells."""
    kinds, labels = rows["kind"].to_numpy(), rows["label"].to_numpy()
    levels, face_of = rows["intensity"].to_numpy(dtype=float), rows["face"].to_numpy()
    top = np.isclose(levels, levels[kinds == "sweep"].max()) if (kinds == "sweep").any() else np.zeros(len(rows), bool)
    fidelity, leaks = {}, {}
    for au in dict.fromkeys(labels[kinds == "sweep"]):
        i = AU_INDEX[au]
        mask = (kinds == "sweep") & (labels == au)
        entry = _fit(requested[mask, i], measured[mask, i])
        at_top = measured[mask & top]
        entry["change_at_top"] = _mean(list(at_top[:, i][np.isfinite(at_top[:, i])]))
        per_face = []
        for face in dict.fromkeys(face_of[mask]):
            sweep = mask & (face_of == face)
            per_face.append(_monotonic(measured[sweep, i][np.argsort(levels[sweep], kind="stable")], tolerance))
        known = [value for value in per_face if value is not None]
        entry["monotonic"] = all(known) if known else None
        entry["monotonic_faces"] = per_face
        entry["monotonic_count"] = sum(value is True for value in per_face)
        fidelity[au] = entry
        leaks[au] = {
            other: _round(np.nanmean(at_top[:, j]) if np.isfinite(at_top[:, j]).any() else math.nan)
            for j, other in enumerate(AU_NAMES)
            if j != i and len(at_top)
        }
    emotions = {}
    for emotion in dict.fromkeys(labels[kinds == "emotion"]):
        mask = (kinds == "emotion") & (labels == emotion)
        columns = [AU_INDEX[au] for au in EMOTIONS[emotion]]
        emotions[emotion] = _fit(requested[mask][:, columns].ravel(), measured[mask][:, columns].ravel())
        emotions[emotion]["all_aus"] = _fit(requested[mask].ravel(), measured[mask].ravel())
    prototypes = kinds == "emotion"
    correlations = [v["correlation"] for v in fidelity.values() if v["correlation"] is not None]
    return {
        "au_fidelity": fidelity,
        "mean_correlation": float(np.mean(correlations)) if correlations else None,
        "monotonic_tolerance": tolerance,
        "leaks_at_top": leaks,
        "emotions": emotions,
        "expert_agreement": _fit(requested[prototypes].ravel(), measured[prototypes].ravel()) if emotions else None,
    }


def leak_list(
    leaks: dict[str, dict[str, float | None]], couplings: dict[str, dict[str, str]], threshold: float = LEAK_THRESHOLD
) -> dict[str, Any]:
    """Every leak at or above ``threshold`` as ``{"au", "into", "change"}``, declared couplings of the motion model
    listed apart from undeclared ones."""
    found: dict[str, list[dict[str, Any]]] = {"declared": [], "undeclared": []}
    for au, row in leaks.items():
        for other, value in row.items():
            if value is not None and value >= threshold:
                kind = "declared" if other in couplings.get(au, {}) else "undeclared"
                found[kind].append({"au": au, "into": other, "change": value})
    return {"threshold": threshold, **found}


def _evaluate_face(
    generator: FaceGenerator,
    judge: Judge,
    face: torch.Tensor,
    number: int,
    plan: pd.DataFrame,
    targets: np.ndarray,
    on_frame: Callable[[], object],
    results: tuple[list, list, dict, list, list],
) -> torch.Tensor:
    """Render every target on one face and append its judged change, delivered motion and identity scores to
    ``results`` (requested, measured, delivered, psnr, ssim); return the frames."""
    requested, measured, delivered, psnr, ssim = results
    neutral = judge.measure(face)
    if neutral is None:
        raise MiexInputError("the landmarker finds no face in an input face", row=number, field="faces")
    kwargs: dict[str, Any] = {}
    if generator.needs_landmarks:
        kwargs["landmarks"] = torch.from_numpy(neutral.landmarks)[None].expand(len(targets), -1, -1)
    frames = generator(face[None].expand(len(targets), -1, -1, -1), targets, seed=0, **kwargs)
    judged, redetected = judge.change(frames, neutral, on_frame)
    requested.append(targets)
    measured.append(judged)
    _delivered_motion(generator, face, frames, neutral.landmarks, targets, redetected, plan, delivered)
    face_psnr, face_ssim = identity_scores(frames, face)
    psnr += face_psnr
    ssim += face_ssim
    return frames


def _round(value: float) -> float | None:
    return None if not math.isfinite(float(value)) else round(float(value), 3)


def _monotonic(sweep: np.ndarray, tolerance: float) -> bool | None:
    """The judged change of one face's sweep (ordered by level) never drops by more than ``tolerance`` as the level
    rises, over the frames the judge read (None when it read fewer than two)."""
    read = sweep[np.isfinite(sweep)]
    return None if len(read) < 2 else bool((np.diff(read) >= -tolerance).all())


def _delivered_motion(
    generator: FaceGenerator,
    face: torch.Tensor,
    frames: torch.Tensor,
    neutral: np.ndarray,
    targets: np.ndarray,
    redetected: list[np.ndarray | None],
    plan: pd.DataFrame,
    out: dict[str, dict[str, list[float]]],
) -> None:
    """Delivered motion at the top intensity of each single-AU sweep of ``plan``, by two instruments (only for
    generators that say where landmarks should go):

    - ``landmarks``: re-detected landmark motion projected on the intended motion (all moving landmarks; inherits
      the landmarker's shape prior, which under-follows brows, cheeks and nose);
    - ``pixels``: patch tracking from the input face into the frame (:mod:`.tracking`), the median gain over the
      landmarks the AU moves most (at least half its largest shift); blind where a patch is covered (lids,
      mouth cavity) or stretched."""
    if not hasattr(generator, "targets"):
        return
    from miex.data.faces.mesh import face_frame
    from miex.data.generators.tracking import delivered_ratio, track_points

    frame = face_frame(neutral)
    before = to_uint8(face[None])[0]
    iod = frame.interocular
    sweeps = plan[plan["kind"] == "sweep"]
    for au, levels in sweeps.groupby("label", sort=False)["intensity"]:
        row = int(levels.idxmax())  # the top of this AU's sweep
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
        shift_px, found = track_points(
            before,
            to_uint8(frames[row : row + 1])[0],
            neutral[main],
            radius=max(3, round(0.08 * iod)),
            search=round(0.3 * iod) + 2,
        )
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
    grid = image_grid(
        [b for b, _ in blocks], row_labels=[name for _, name in blocks], column_labels=[f"{v:g}" for v in intensities]
    )
    with atomic_path(path, suffix=Path(path).suffix) as temporary:
        grid.save(temporary)


def summary(report: dict[str, Any]) -> str:
    """A readable table of the report, under the name and label of its judge."""
    judge, couplings = report["judge"], report["declared_couplings"]
    motion = any("delivered_motion" in entry for entry in report["au_fidelity"].values())
    threshold = report.get("leaks", {}).get("threshold", LEAK_THRESHOLD)
    header = f"{'AU':<5} {'r':>6} {'slope':>6} {'d@top':>6} {'mono':>5}"
    header += f" {'motion':>7} {'pixels':>7}" if motion else ""
    lines = [
        f"{report['generator']} judged by {judge['name']} on {report['faces']} face(s)",
        f"judge: {judge.get('label', judge['name'])}",
        f"{header}  leaks >= {threshold:g}",
    ]
    for au, entry in report["au_fidelity"].items():
        row = report["leaks_at_top"].get(au, {})
        leaks = [
            f"{k}{'*' if k in couplings.get(au, {}) else ''} {v:.1f}"
            for k, v in row.items()
            if v is not None and v >= threshold
        ]
        faces = entry.get("monotonic_faces", [])
        mono = "-" if entry["monotonic"] is None else f"{entry.get('monotonic_count', 0)}/{len(faces)}"
        line = f"{au:<5} {_fmt(entry['correlation']):>6} {_fmt(entry['slope']):>6} {_fmt(entry['change_at_top']):>6} "
        line += f"{mono:>5}"
        if motion:
            line += f" {_fmt(entry.get('delivered_motion')):>7} {_fmt(entry.get('delivered_motion_pixels')):>7}"
        lines.append(f"{line}  {', '.join(leaks)}")
    lines.append(
        f"mean r {_fmt(report['mean_correlation'])}; identity PSNR {_fmt(report['identity']['psnr_db'])} dB, "
        f"SSIM {_fmt(report['identity']['ssim'])}; * = declared coupling"
    )
    expert = report.get("expert_agreement")
    if expert:
        lines.append(
            f"expert prototypes: r {_fmt(expert['correlation'])}, slope {_fmt(expert['slope'])} over "
            f"{expert['n']} requested/judged cells"
        )
    if report.get("failed_frames") is not None:
        lines += _failed_lines(report["failed_frames"])
    lines.append(f"about the judge: {judge['description']}")
    return "\n".join(lines)


def _failed_lines(failed: dict[str, Any], shown: int = 5) -> list[str]:
    """What a file-based judge could not read: failed frames (success 0) and renders no CSV row judged."""
    named = [f"{frame['file']} ({frame['csv']} line {frame['line']})" for frame in failed["frames"]]
    lines = [f"failed frames (success 0, excluded): {failed['count']}" + (": " + ", ".join(named) if named else "")]
    unjudged = failed["unjudged"]
    if unjudged:
        more = f" and {len(unjudged) - shown} more" if len(unjudged) > shown else ""
        lines.append(f"renders no CSV row judged (excluded): {len(unjudged)}: {', '.join(unjudged[:shown])}{more}")
    return lines


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
