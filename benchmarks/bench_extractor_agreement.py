"""Agreement of the mediapipe AU extractor with OpenFace on a folder of faces, printed as JSON.

OpenFace's readings come in through its own CSV format (never as a dependency): run OpenFace 2.2 (``FeatureExtraction
-fdir FOLDER -aus``, or any tool writing that format) on the same folder, whose images it numbers ``frame`` 1..N in
sorted file-name order; a ``file``/``input`` column, when the CSV has one, is used instead. Per AU the script prints
Pearson r (``nan`` where either side is constant), how many faces read above 0.05 on each side, and the largest
reading on the faces named by ``--neutral`` (docs/reference.md §AU extraction: neutral faces must read <= 0.3).
With ``--people``, a JSON ``{file: person}``, and ``--subset`` (people, e.g. those a ``--calibration`` file was not
fitted on) it also prints r on those people's faces alone::

    python benchmarks/bench_extractor_agreement.py crops/ openface.csv --neutral n1.png n2.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from miex.data.aus.schema import AU_NAMES
from miex.data.faces import FaceAnalyzer, FeatureCalibration, MediapipeAUExtractor, read_rgb
from miex.data.faces.pool import list_images


def openface_readings(csv: Path, images: list[Path]) -> dict[str, np.ndarray]:
    """File name -> OpenFace's 17 AUs, matched by a file column or by sorted position (FeatureExtraction -fdir)."""
    table = pd.read_csv(csv, skipinitialspace=True)
    table.columns = [str(column).strip() for column in table.columns]
    if "success" in table:  # failed tracks carry blank or meaningless AUs (OpenFace writes them anyway)
        table = table[table["success"] == 1]
    table = table.rename(columns={f"{au}_r": au for au in AU_NAMES})
    names = sorted(image.name for image in images)
    key = next((column for column in ("file", "input") if column in table), None)
    readings = {}
    for _, row in table.iterrows():
        name = Path(str(row[key])).name if key else names[int(row["frame"]) - 1]
        readings[name] = row[list(AU_NAMES)].to_numpy(dtype=np.float64)
    return readings


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 and a.std() > 1e-9 and b.std() > 1e-9 else float("nan")


def agreement(ours: np.ndarray, theirs: np.ndarray) -> dict[str, float]:
    return {au: round(pearson(ours[:, i], theirs[:, i]), 3) for i, au in enumerate(AU_NAMES)}


def summary(per_au: dict[str, float]) -> dict[str, float | int]:
    values = np.array(list(per_au.values()))
    return {"mean_r": round(float(np.nanmean(values)), 3), "below_0.3": int((np.nan_to_num(values) < 0.3).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="faces (aligned crops or photos; the largest face of each)")
    parser.add_argument("openface_csv", type=Path, help="OpenFace's AU CSV of the same folder")
    parser.add_argument("--method", choices=("calibrated", "geometry", "blendshapes"), default="calibrated")
    parser.add_argument("--neutral", nargs="*", default=[], help="file names of neutral faces")
    parser.add_argument("--calibration", type=Path, help="calibrated: a feature calibration file (default: shipped)")
    parser.add_argument("--people", type=Path, help="JSON {file name: person}, with --subset")
    parser.add_argument("--subset", nargs="*", default=[], help="people to report on separately (with --people)")
    args = parser.parse_args()

    images = list_images(args.folder)
    theirs_by_name = openface_readings(args.openface_csv, images)
    features = FeatureCalibration.load(args.calibration) if args.calibration else None
    extractor = MediapipeAUExtractor(FaceAnalyzer(max_faces=1), method=args.method, features=features)
    names, ours, theirs = [], [], []
    for image in images:
        aus = extractor.extract(read_rgb(image))
        if aus is not None and image.name in theirs_by_name:
            names.append(image.name)
            ours.append(aus)
            theirs.append(theirs_by_name[image.name])
    ours_array, theirs_array = np.array(ours, dtype=np.float64), np.array(theirs)
    per_au = agreement(ours_array, theirs_array)
    report: dict[str, object] = {"method": args.method, "faces": len(names), "r": per_au, **summary(per_au)}
    report["nonzero"] = {
        au: [int((ours_array[:, i] > 0.05).sum()), int((theirs_array[:, i] > 0.05).sum())]
        for i, au in enumerate(AU_NAMES)
    }
    neutral = np.isin(names, args.neutral)
    if neutral.any():
        report["neutral_max"] = {au: round(float(ours_array[neutral, i].max()), 2) for i, au in enumerate(AU_NAMES)}
    if args.people:
        person = json.loads(args.people.read_text())
        chosen = np.isin([person.get(name, "") for name in names], args.subset)
        if chosen.sum() > 2:
            subset = agreement(ours_array[chosen], theirs_array[chosen])
            report["subset"] = {"faces": int(chosen.sum()), "r": subset, **summary(subset)}
    extractor.analyzer.close()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
