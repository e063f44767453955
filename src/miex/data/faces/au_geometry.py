"""Geometric AU estimation: measured landmark motion -> 17 AU intensities, by inverting the FACS motion model.

Why geometry and not MediaPipe's blendshapes: the blendshapes read resting state (a neutral open eye scores
eyeSquint and eyeBlink well above zero) and leave several AUs dead (cheekSquint, noseSneer are 0 on broad smiles).
A micro-expression is a *change*, so intensities here are a fit of the change between a face and a neutral
reference:

1. both landmark sets are put in one face frame (eye line, inter-ocular units; head pose removed by a similarity
   fit on MediaPipe's rigid points, in 3-D when depth is known);
2. the change of every control landmark of the motion model is explained as ``Σ_au (a_au / 5) · basis_au`` with
   every ``a_au`` in [0, 5] (bounded least squares: AUs that move the same landmarks share the motion instead of
   each claiming all of it); AU45 gets a per-face column that carries the upper lid onto the lower one;
3. a dead zone absorbs what is not expression: landmark jitter against a neutral frame of the same face, identity
   against the population-neutral canonical face.

The reference is a neutral frame of the same person (a clip's onset, a subject's neutral photo) or, failing that,
MediaPipe's canonical face (:mod:`.canonical`). Per-AU definitions and the 0-5 mapping: docs/reference.md §AU
extraction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from miex.data.aus.motion import MotionModel
from miex.data.aus.schema import AU_INDEX, AU_MAX, NUM_AUS, from_generator_scale, to_generator_scale
from miex.data.faces.align import umeyama
from miex.data.faces.mesh import LOWER_LID, RIGID_POINTS, UPPER_LID, face_frame

DEADZONE_SAME_FACE = 0.6
"""Intensity units absorbed against a neutral frame of the same face: re-detecting the astronaut photo shifted by
(7, 4) px moves MediaPipe's landmarks enough to read up to 0.55 on the motion model's scale (tests/test_au_extract.py);
this much jitter must not become an expression."""
DEADZONE_CANONICAL = 0.9
"""Against the canonical face, identity (a wider mouth, higher brows) looks like expression; this much is absorbed so
that neutral faces read near zero. Subtle AUs below it are lost without a neutral reference: give one."""
RIDGE = 5e-4
"""Ridge weight per intensity unit squared (IOD^2): about one landmark's worth of motion at intensity 1."""
FIT_LIMIT = 10.0
"""Upper bound of the fit (clipped to 5 afterwards): motion past an AU's intensity-5 magnitude stays with that AU
instead of spilling into AUs that move the same landmarks."""
EYE_PAIRS = {side: tuple(zip(UPPER_LID[side][1:-1], LOWER_LID[side][1:-1], strict=True)) for side in UPPER_LID}


@dataclass(frozen=True)
class GeometryResult:
    aus: np.ndarray  # (17,) float32, 0 to 5
    reference: str  # "same-face" or "canonical"
    residual: float  # RMS of the unexplained landmark motion, IOD units


def similarity_fit(source: np.ndarray, target: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``source`` (N x D, D = 2 or 3) mapped onto ``target`` by the least-squares similarity
    (:func:`.align.umeyama`)."""
    linear, src_mean, dst_mean, _ = umeyama(source, target)
    return lambda points: (np.asarray(points, np.float64) - src_mean) @ linear.T + dst_mean


class GeometricAUEstimator:
    """``estimate(landmarks, reference=None) -> GeometryResult`` for one face; landmarks are (478, 2 or 3) pixels."""

    def __init__(
        self,
        model: MotionModel | None = None,
        *,
        deadzone_same_face: float = DEADZONE_SAME_FACE,
        deadzone_canonical: float = DEADZONE_CANONICAL,
    ) -> None:
        self.model = model or MotionModel.load()
        self.deadzone_same_face = deadzone_same_face
        self.deadzone_canonical = deadzone_canonical
        self._canonical: np.ndarray | None = None

    def canonical(self) -> np.ndarray:
        if self._canonical is None:
            from miex.data.faces.canonical import canonical_face

            self._canonical = canonical_face()
        return self._canonical

    def estimate(self, landmarks: np.ndarray, reference: np.ndarray | None = None) -> GeometryResult:
        """AUs of ``landmarks`` as change from ``reference`` (same face, neutral), or from population norms."""
        face = np.asarray(landmarks, dtype=np.float64)
        if reference is None:
            return self.estimate_without_reference(face)
        neutral, kind = np.asarray(reference, dtype=np.float64), "same-face"
        dims = 3 if face.shape[1] == 3 and neutral.shape[1] == 3 else 2
        rigid = list(RIGID_POINTS)
        aligned = similarity_fit(face[rigid, :dims], neutral[rigid, :dims])(face[:, :dims])[:, :2]
        frame = face_frame(neutral[:, :2])
        control = [i for i in self.model.control if i < len(neutral)]
        index = [self.model.control.index(i) for i in control]
        moved = frame.to_local(aligned[control]) - frame.to_local(neutral[control, :2])
        # (2K, 17): the motion of each AU at intensity 5, i.e. per unit of the generators' 0-1 weight
        design = self.model.basis[:, index].reshape(NUM_AUS, -1).T.copy()
        design[:, AU_INDEX["AU45"]] = self._closure_column(neutral, control)
        from scipy.optimize import lsq_linear

        # a small ridge: two AUs whose motions cancel (AU12 out + AU14 in) cost more than the one AU that explains it;
        # RIDGE is per intensity unit, so in weight units (intensity / 5) the penalty row is 5 times as steep
        ridge = np.sqrt(RIDGE) * from_generator_scale(np.eye(NUM_AUS))
        system, observed = np.vstack([design, ridge]), np.concatenate([moved.reshape(-1), np.zeros(NUM_AUS)])
        fit = lsq_linear(system, observed, bounds=(0.0, to_generator_scale(FIT_LIMIT)), method="bvls")
        residual = float(np.sqrt(np.mean((design @ fit.x - moved.reshape(-1)) ** 2)))
        return GeometryResult(_deadzoned(from_generator_scale(fit.x), self.deadzone_same_face), kind, residual)

    def estimate_without_reference(self, landmarks: np.ndarray) -> GeometryResult:
        """One image, no neutral frame: :meth:`readings` less the canonical dead zone."""
        raw = self.readings(landmarks)
        return GeometryResult(_deadzoned(raw, self.deadzone_canonical), "canonical", float("nan"))

    def readings(self, landmarks: np.ndarray) -> np.ndarray:
        """(17,) signed, unclipped single-image readings on the 0-5 scale (0 = resting norm, 5 = the motion model's
        change at intensity 5): per-AU measures chosen to be as identity-independent as geometry allows (corner
        height against the lip midline, lids against the iris, gaps that are zero at rest), compared with the
        canonical face or a resting norm (:data:`RESTING_NORMS`). The calibrated extractor's geometry features."""
        face = np.asarray(landmarks, dtype=np.float64)
        neutral = self.canonical()
        dims = 3 if face.shape[1] == 3 else 2
        rigid = list(RIGID_POINTS)
        aligned = similarity_fit(face[rigid, :dims], neutral[rigid, :dims])(face[:, :dims])[:, :2]
        frame = face_frame(neutral[:, :2])
        measured = _single_image_measures(frame.to_local(aligned), iris=len(face) >= 478)
        norms = _single_image_measures(frame.to_local(neutral[:, :2]), iris=False)
        raw = np.zeros(NUM_AUS)
        for au, (value, rest, at_five) in _au_readings(measured, norms).items():
            raw[AU_INDEX[au]] = (value - rest) / at_five  # fraction of the change at intensity 5
        return from_generator_scale(raw)

    def _closure_column(self, neutral: np.ndarray, control: list[int]) -> np.ndarray:
        """AU45 at 5: each upper-lid control point travels to its lower-lid partner (``closure_at_5`` of the way)."""
        lids = self.model.eyelids.closing
        closure = 0.0 if lids is None else lids.closure_at_5
        frame = face_frame(neutral[:, :2])
        column = np.zeros((len(control), 2))
        position = {landmark: k for k, landmark in enumerate(control)}
        for pairs in EYE_PAIRS.values():
            for upper, lower in pairs:
                if upper in position:
                    travel = frame.to_local(neutral[lower, :2]) - frame.to_local(neutral[upper, :2])
                    column[position[upper]] = closure * travel
        return column.reshape(-1)


def _deadzoned(raw: np.ndarray, deadzone: float) -> np.ndarray:
    values = (np.asarray(raw, dtype=np.float64) - deadzone) * AU_MAX / (AU_MAX - deadzone)
    return np.clip(values, 0.0, AU_MAX).astype(np.float32)


RESTING_NORMS = {"upper_lid_over_iris": 0.024, "lower_lid_over_iris": 0.0, "eye_aperture": 0.28}
"""Resting values the canonical mesh cannot give (it has no irises): at rest the upper lid covers about 1.5 mm of
the iris (0.024 IOD) and the lower lid sits at the limbus; a resting eye opens about 0.28 of its width.
docs/reference.md §AU extraction."""


def _mean_y(points: np.ndarray, indices: tuple[int, ...] | list[int]) -> float:
    return float(points[list(indices), 1].mean())


def _single_image_measures(p: np.ndarray, *, iris: bool) -> dict[str, float]:
    """Face-frame measures (IOD units, y down) averaged over both sides; lid-iris measures only with irises."""
    m: dict[str, float] = {}
    m["inner_brow_height"] = -np.mean([_mean_y(p, (107, 55, 66, 65)), _mean_y(p, (336, 285, 296, 295))])
    m["outer_brow_height"] = -np.mean([_mean_y(p, (70, 46, 63, 53)), _mean_y(p, (300, 276, 293, 283))])
    m["brow_gap"] = float(p[336, 0] - p[107, 0])
    m["cheek_height"] = -np.mean([_mean_y(p, (117, 118, 101, 50)), _mean_y(p, (346, 347, 330, 280))])
    m["ala_height"] = -np.mean([_mean_y(p, (129, 98, 64)), _mean_y(p, (358, 327, 294))])
    m["nose_tip_height"] = -float(p[1, 1])
    m["lip_to_nose"] = float(p[0, 1] - p[2, 1])
    centre = (p[13, 1] + p[14, 1]) / 2
    m["corner_lift"] = float(centre - (p[61, 1] + p[291, 1]) / 2)
    m["mouth_half_width"] = float(p[291, 0] - p[61, 0]) / 2
    m["lip_thickness"] = float((p[13, 1] - p[0, 1]) + (p[17, 1] - p[14, 1]))
    m["lip_gap"] = max(0.0, float(p[14, 1] - p[13, 1]))
    m["chin_depth"] = float(p[152, 1])
    widths = [np.linalg.norm(p[33] - p[133]), np.linalg.norm(p[263] - p[362])]
    openings = [p[145, 1] - p[159, 1], p[374, 1] - p[386, 1]]
    m["eye_aperture"] = float(np.mean(np.divide(openings, widths)))
    if iris:
        m["upper_lid_over_iris"] = float(np.mean([p[159, 1] - p[470, 1], p[386, 1] - p[475, 1]]))
        m["lower_lid_over_iris"] = float(np.mean([p[472, 1] - p[145, 1], p[477, 1] - p[374, 1]]))
    else:
        m |= {k: v for k, v in RESTING_NORMS.items() if k != "eye_aperture"}
    return m


def _au_readings(m: dict[str, float], rest: dict[str, float]) -> dict[str, tuple[float, float, float]]:
    """Per AU: (measured value, resting value, change at intensity 5), oriented so that the AU increases it.

    Magnitudes at 5 are the motion model's (docs/reference.md §Motion model)."""
    corner_lift = m["corner_lift"] - rest["corner_lift"]
    widening = m["mouth_half_width"] - rest["mouth_half_width"]
    return {
        "AU01": (m["inner_brow_height"], rest["inner_brow_height"], 0.17),
        "AU02": (m["outer_brow_height"], rest["outer_brow_height"], 0.17),
        "AU04": (
            -(m["inner_brow_height"] + 0.5 * m["brow_gap"]),
            -(rest["inner_brow_height"] + 0.5 * rest["brow_gap"]),
            0.11 + 0.5 * 0.16,
        ),
        "AU05": (-m["upper_lid_over_iris"], -RESTING_NORMS["upper_lid_over_iris"], 0.075),
        "AU06": (m["cheek_height"], rest["cheek_height"], 0.09),
        "AU07": (
            m["lower_lid_over_iris"] - 0.5 * (m["cheek_height"] - rest["cheek_height"]),
            RESTING_NORMS["lower_lid_over_iris"],
            0.07,
        ),
        "AU09": (
            m["ala_height"] - m["nose_tip_height"] - 0.3 * max(corner_lift, 0.0),
            rest["ala_height"] - rest["nose_tip_height"],
            0.075,
        ),
        "AU10": (-m["lip_to_nose"], -rest["lip_to_nose"], 0.10),
        "AU12": (corner_lift, 0.0, 0.18),
        "AU14": (-widening - 0.2 * max(corner_lift, 0.0), 0.0, 0.07),
        "AU15": (-corner_lift, 0.0, 0.13),
        "AU17": (-m["chin_depth"], -rest["chin_depth"], 0.09),
        "AU20": (widening - 0.85 * max(corner_lift, 0.0), 0.0, 0.15),
        "AU23": (
            -m["lip_thickness"] - 0.4 * max(corner_lift, 0.0) - 0.3 * max(widening, 0.0),
            -rest["lip_thickness"],
            0.08,
        ),
        "AU25": (m["lip_gap"], 0.0, 0.13),
        "AU26": (m["chin_depth"], rest["chin_depth"], 0.26),
        "AU45": (1.0 - m["eye_aperture"] / RESTING_NORMS["eye_aperture"], 0.0, 1.0),
    }
