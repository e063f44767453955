"""Renders out, judgements in: OpenFace 2.2 (or any judge that writes its CSV format) scores a generator via files.

An AU intensity in MiE-X means what OpenFace 2.2 reads, yet miex never depends on OpenFace (nor on any package with
a non-commercial licence): the two meet in a folder.

``miex eval-generator ... --export DIR`` writes (:class:`RenderExport`)::

    DIR/export.json                    what was rendered: generator, intensities, AUs, declared couplings, commands
    DIR/manifest.csv                   one row per image: file, folder, openface_frame, face, kind, label, au,
                                       intensity and the requested AU01 ... AU45
    DIR/face00/face00_000_input.png    the untouched input face
    DIR/face00/face00_001_AU01_0.png   face 0, AU01 at 0; then every level of every AU, then the emotion prototypes
                                       (face00_108_happiness_5.png)

File names sort in manifest order within a folder (OpenFace numbers the images of ``-fdir`` in sorted order:
``openface_frame``), folders sort in face order, and every stem is unique across the export, so a per-image CSV
names its render on its own.

``miex eval-generator --judgement CSV [CSV ...] --export DIR`` (:func:`judge_export`) reads what the judge wrote:
a CSV per face folder (FeatureExtraction ``-fdir DIR/face00``: ``face00.csv``, rows by ``frame``), a CSV per image
(FaceLandmarkImg: ``face00_007_AU12_2.5.csv``), or one CSV with a column naming each file (``file``, ``input``,
``filename``, ``image``, ``path`` or ``name``) or, lacking one, a row per image of the whole export in manifest
order. Columns are found by name (:func:`miex.data.aus.openface.read_openface_csv`); ``success == 0`` rows are
failed frames, counted, named and excluded.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from os import PathLike
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from miex.core.errors import MiexInputError
from miex.core.fileio import EVAL_EXPORT_KIND, atomic_path, guard_output_folder, mark_output, read_json, same_file
from miex.data.aus.openface import read_openface_csv
from miex.data.aus.schema import AU_NAMES, NUM_AUS
from miex.data.faces.image import read_rgb
from miex.data.generators.fidelity import EMOTIONS, build_report, identity_scores, score_sweeps, write_report
from miex.data.generators.grid import to_uint8

EXPORT_FORMAT = "miex.eval_export.v1"
EXPORT_INFO = "export.json"
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ["file", "folder", "openface_frame", "face", "kind", "label", "au", "intensity", *AU_NAMES]
NAME_COLUMNS = ("file", "input", "filename", "file_name", "image", "img", "path", "name")
"""A judge's column naming the image a row judges (the first one present is used)."""
TOOL_COLUMNS = ("tool", "judge", "extractor")
"""A judge's column naming itself; its values go into the report's judge label."""
MONOTONIC_TOLERANCE = 0.1
JUDGE_NAME = "openface-csv"
DESCRIPTION = (
    "AU intensities a judge wrote in OpenFace 2.x CSV format for the exported renders, read by column name. "
    "OpenFace 2.2 is the reference (an AU intensity in MiE-X means what it reads); miex joins it through files, "
    "never as a dependency. Judged change = the judge's reading of a render minus its reading of the same face's "
    "untouched input; failed frames (success 0) and renders no CSV row judged are excluded and listed."
)
_OUR_PNG = re.compile(r"face\d+_\d+_\w[\w.+-]*\.png")


COMMAND = "miex eval-generator"


def check_export_folder(
    folder: str | PathLike[str], *, overwrite: bool = False, inputs: Sequence[str | PathLike[str] | None] = ()
) -> Path:
    """An export folder that may be written (docs/reference.md §File contract): new, empty, or a previous export
    (its ``.miex/output.json`` marker says so; its renders are replaced). Refused: a file, a folder that is or lies
    inside one of ``inputs`` (the faces), links inside it, and -- unless ``overwrite`` -- any other non-empty
    folder, even one holding a file named ``export.json``."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise MiexInputError("--export names a file; give a folder (it is created when missing)", file=folder)
    try:
        guard_output_folder(
            folder,
            overwrite,
            kind=EVAL_EXPORT_KIND,
            command=COMMAND,
            writes=(EXPORT_INFO, MANIFEST),
            trees=(".",),
            inputs=inputs,
            replaced="its export.json, manifest.csv and face renders",
        )
    except MiexInputError as error:  # the contract's messages speak of --out; this folder is --export
        raise MiexInputError(error.reason.replace("--out", "--export"), file=error.file) from None
    return folder


def face_folder(number: int, faces: int) -> str:
    """The folder of face ``number`` of ``faces``: ``face00`` ... (zero-padded, so folders sort in face order)."""
    return f"face{number:0{max(2, len(str(faces - 1)))}d}"


class RenderExport:
    """Writes every input face and render of :func:`~.fidelity.evaluate_generator` as PNG, then the manifest.

    ``export.json`` is written first (it marks the folder as an export), ``manifest.csv`` last: a folder without a
    manifest is an interrupted export, which :func:`judge_export` refuses."""

    def __init__(
        self,
        folder: str | PathLike[str],
        plan: pd.DataFrame,
        targets: np.ndarray,
        *,
        faces: int,
        size: int,
        info: dict[str, Any],
    ) -> None:
        self.folder = check_export_folder(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        mark_output(self.folder, EVAL_EXPORT_KIND, COMMAND)  # before any render: the folder is an export from now on
        for stale in [*self.folder.glob("face*/face*_*.png"), self.folder / MANIFEST]:  # a previous export's files
            if stale.name == MANIFEST or _OUR_PNG.fullmatch(stale.name):
                stale.unlink(missing_ok=True)
        self.plan, self.targets, self.faces = plan, targets, faces
        self.index_width = max(3, len(str(len(plan))))
        self.rows: list[dict[str, Any]] = []
        sweeps = plan[plan["kind"] == "sweep"]
        self.info = {
            "format": EXPORT_FORMAT,
            **info,
            "faces": faces,
            "size": size,
            "intensities": list(dict.fromkeys(float(v) for v in plan["intensity"])),
            "aus": list(dict.fromkeys(sweeps["label"])),
            "emotions": {e: list(EMOTIONS[e]) for e in dict.fromkeys(plan.loc[plan["kind"] == "emotion", "label"])},
            "manifest": MANIFEST,
            "order": "file names sort in manifest order within a folder; openface_frame is a file's 1-based place "
            "in its folder's sorted listing (the frame number FeatureExtraction -fdir writes)",
            "commands": export_commands(self.folder, faces),
        }
        write_report(self.info, self.folder / EXPORT_INFO)

    def add(self, number: int, face: torch.Tensor, frames: torch.Tensor) -> None:
        """Write face ``number``'s input and its renders (one per plan row, in plan order)."""
        folder = face_folder(number, self.faces)
        images = to_uint8(torch.cat([face[None], frames]))
        kinds = ["input", *self.plan["kind"]]
        labels = ["input", *self.plan["label"]]
        levels = [0.0, *self.plan["intensity"]]
        vectors = np.concatenate([np.zeros((1, NUM_AUS), np.float32), self.targets])
        for place, image in enumerate(images):
            kind, label, level = kinds[place], labels[place], float(levels[place])
            stem = f"{folder}_{place:0{self.index_width}d}_" + ("input" if kind == "input" else f"{label}_{level:g}")
            file = f"{folder}/{stem}.png"
            with atomic_path(self.folder / file, suffix=".png") as temporary:
                Image.fromarray(image).save(temporary, format="PNG")
            requested = dict(zip(AU_NAMES, map(float, vectors[place]), strict=True))
            self.rows.append(
                {
                    "file": file,
                    "folder": folder,
                    "openface_frame": place + 1,
                    "face": number,
                    "kind": kind,
                    "label": label,
                    "au": label if kind == "sweep" else "",
                    "intensity": level,
                    **requested,
                }
            )

    def finish(self) -> pd.DataFrame:
        """Write ``manifest.csv`` (the export is complete from then on) and return it."""
        manifest = pd.DataFrame(self.rows, columns=MANIFEST_COLUMNS)
        with atomic_path(self.folder / MANIFEST) as temporary:
            manifest.to_csv(temporary, index=False)
        return manifest


def export_commands(folder: Path, faces: int) -> dict[str, list[str]]:
    """The OpenFace 2.2 runs that judge an export (FeatureExtraction: a CSV per face folder, the folder read as one
    sequence; or FaceLandmarkImg: a CSV per image, each judged on its own) and the miex commands that read them."""
    names = [face_folder(number, faces) for number in range(faces)]
    quote = shlex.quote
    commands: dict[str, list[str]] = {}
    for tool, out in (("FeatureExtraction", "openface"), ("FaceLandmarkImg", "openface_images")):
        commands[tool] = [
            f"{tool} -fdir {quote(str(folder / name))} -out_dir {quote(str(folder / out))} -aus" for name in names
        ]
        commands[tool].append(
            f"miex eval-generator --judgement {quote(str(folder / out))} --export "
            f"{quote(str(folder))} --out {quote(str(folder / out))}.json"
        )
    return commands


def export_instructions(folder: Path, faces: int) -> str:
    """What to print after an export: both ways to run OpenFace on it, each followed by its read-back."""
    commands = export_commands(folder, faces)
    lines = [
        "judge the export with OpenFace 2.2, one CSV per face folder (FeatureExtraction reads a folder as one "
        "sequence), then read the CSVs back:"
    ]
    lines += [f"  {line}" for line in commands["FeatureExtraction"]]
    lines += ["or one CSV per image (FaceLandmarkImg judges each image on its own):"]
    lines += [f"  {line}" for line in commands["FaceLandmarkImg"]]
    return "\n".join(lines)


def read_export(folder: str | PathLike[str]) -> tuple[dict[str, Any], pd.DataFrame]:
    """``export.json`` and ``manifest.csv`` of a finished export; anything missing or malformed names its file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MiexInputError(
            "--export folder not found (make one with `miex eval-generator ... --export DIR`)", file=folder
        )
    info = read_json(folder / EXPORT_INFO) if (folder / EXPORT_INFO).is_file() else None
    if not isinstance(info, dict) or info.get("format") != EXPORT_FORMAT:
        raise MiexInputError(
            f"not an eval-generator export (no {EXPORT_INFO} of format {EXPORT_FORMAT})", file=folder / EXPORT_INFO
        )
    if not (folder / MANIFEST).is_file():
        raise MiexInputError("the export has no manifest: it was interrupted; export again", file=folder / MANIFEST)
    try:
        manifest = pd.read_csv(folder / MANIFEST, dtype={"au": str, "label": str}, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise MiexInputError(f"unreadable manifest: {error}", file=folder / MANIFEST) from error
    missing = [column for column in MANIFEST_COLUMNS if column not in manifest.columns]
    if missing:
        raise MiexInputError(f"manifest lacks columns {missing}", file=folder / MANIFEST, field=missing[0])
    return info, manifest


def judge_export(export: str | PathLike[str], csvs: Sequence[str | PathLike[str]]) -> dict[str, Any]:
    """Score an export from the OpenFace-format CSVs a judge wrote for it (files, or folders searched for *.csv):
    the report of :func:`~.fidelity.build_report` with the judge named by its CSVs, and ``failed_frames``."""
    folder = Path(export)
    info, manifest = read_export(folder)
    files = _expand(csvs, folder)
    readings = np.full((len(manifest), NUM_AUS), np.nan)
    judged_by: list[str | None] = [None] * len(manifest)
    failed: list[dict[str, Any]] = []
    tools: list[str] = []
    lookup = _Lookup(manifest)
    for csv in files:
        table = read_openface_csv(csv, keep_failed=True, keep_text=NAME_COLUMNS + TOOL_COLUMNS)
        tools += [value for column in TOOL_COLUMNS if column in table for value in table[column] if value]
        for index, row in _chosen_rows(table, lookup.rows_of(table, csv)):
            if judged_by[index] is not None:
                raise MiexInputError(
                    f"{manifest.file[index]} is judged twice (also {judged_by[index]}); give each render's CSV once",
                    file=csv,
                    row=int(row["line"]),
                )
            judged_by[index] = f"{csv} line {int(row['line'])}"
            if int(row.get("success", 1)) == 1:
                readings[index] = row[list(AU_NAMES)].to_numpy(dtype=float)
            else:
                failed.append({"file": manifest.file[index], "csv": str(csv), "line": int(row["line"])})
    change, no_input = _change_from_input(manifest, readings)
    renders = (manifest["kind"] != "input").to_numpy()
    rows = manifest.loc[renders, ["face", "kind", "label", "intensity"]].reset_index(drop=True)
    scores = score_sweeps(
        rows,
        manifest.loc[renders, list(AU_NAMES)].to_numpy(dtype=float),
        change[renders],
        tolerance=MONOTONIC_TOLERANCE,
    )
    tools = list(dict.fromkeys(tools))
    shown = ", ".join(path.name for path in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    judge = {
        "name": JUDGE_NAME,
        "label": f"OpenFace-format CSV ({', '.join(tools) or 'tool not named in the CSV'}, files {shown})",
        "description": DESCRIPTION,
        "tool": tools,
        "files": [str(path) for path in files],
    }
    unjudged = [manifest.file[i] for i, source in enumerate(judged_by) if source is None]
    return build_report(
        info.get("generator", "?"),
        info.get("generator_config"),
        judge,
        faces=int(manifest["face"].nunique()),
        intensities=info.get("intensities", sorted(set(rows["intensity"]))),
        scores=scores,
        couplings=info.get("declared_couplings", {}),
        identity=_export_identity(folder, manifest),
        export=str(folder),
        failed_frames={"count": len(failed), "frames": failed, "unjudged": unjudged, "faces_without_input": no_input},
    )


def _expand(csvs: Sequence[str | PathLike[str]], export: Path) -> list[Path]:
    """CSV files as given, folders replaced by the *.csv below them (sorted; the export's own manifest skipped)."""
    files: list[Path] = []
    for given in map(Path, csvs):
        if given.is_dir():
            files += sorted(p for p in given.rglob("*.csv") if not same_file(p, export / MANIFEST))
        elif given.is_file():
            files.append(given)
        else:
            raise MiexInputError("--judgement: CSV not found", file=given)
    if not files:
        raise MiexInputError("--judgement: no CSV file found in the given folders", file=str(csvs[0]))
    return files


class _Lookup:
    """Which manifest row a judge's CSV row judges: by file name, by folder and frame, or by export order."""

    def __init__(self, manifest: pd.DataFrame) -> None:
        self.size = len(manifest)
        self.stems = {PurePosixPath(file).stem: i for i, file in enumerate(manifest["file"])}
        ordered = manifest.sort_values(["folder", "openface_frame"], kind="stable")
        self.folders = {name: group.index.to_numpy() for name, group in ordered.groupby("folder", sort=True)}

    def rows_of(self, table: pd.DataFrame, csv: Path) -> np.ndarray:
        """The manifest row of every row of ``table``."""
        column = next((name for name in NAME_COLUMNS if name in table), None)
        if column is not None:
            named = zip(table[column], table["line"], strict=True)
            return np.array([self._named(value, csv, int(line), column) for value, line in named], dtype=np.int64)
        if csv.stem in self.folders:  # FeatureExtraction -fdir DIR/face03 -> face03.csv
            return self.folders[csv.stem][self._places(table, csv, len(self.folders[csv.stem]))]
        if csv.stem in self.stems:  # FaceLandmarkImg: a CSV per image, named like it
            return np.full(len(table), self.stems[csv.stem], dtype=np.int64)
        places = self._places(table, csv, self.size)
        if places.max() + 1 != self.size or ("frame" not in table and len(table) != self.size):
            raise MiexInputError(
                f"cannot tell which render each row judges: name the CSV after a face folder (face00.csv) or an "
                f"image, add a column naming the file ({', '.join(NAME_COLUMNS[:3])}), or give one row per image of "
                f"the whole export in manifest order ({self.size} rows)",
                file=csv,
            )
        return places

    def _named(self, value: str, csv: Path, line: int, column: str) -> int:
        stem = PurePosixPath(value.replace("\\", "/")).stem
        if stem not in self.stems:
            raise MiexInputError(
                f"names {value!r}, which is not in the export's manifest", file=csv, row=line, field=column
            )
        return self.stems[stem]

    @staticmethod
    def _places(table: pd.DataFrame, csv: Path, count: int) -> np.ndarray:
        """0-based places in file order: ``frame - 1`` (OpenFace numbers images from 1), else the row order."""
        places = table["frame"].to_numpy() - 1 if "frame" in table else np.arange(len(table))
        outside = np.flatnonzero((places < 0) | (places >= count))
        if len(outside):
            row = table.iloc[outside[0]]
            raise MiexInputError(
                f"row {places[outside[0]] + 1} of a folder of {count} image(s): the CSV does not belong to this export",
                file=csv,
                row=int(row["line"]),
                field="frame",
            )
        return places


def _chosen_rows(table: pd.DataFrame, targets: np.ndarray) -> list[tuple[int, pd.Series]]:
    """One row per judged render: its first successful row in file order (a judge may report several faces per
    image), else its first row (a failed frame)."""
    ok = table["success"].to_numpy() == 1 if "success" in table else np.ones(len(table), bool)
    order = np.lexsort((np.arange(len(table)), ~ok, targets))
    chosen, seen = [], set()
    for position in order:
        if targets[position] not in seen:
            seen.add(targets[position])
            chosen.append((int(targets[position]), table.iloc[position]))
    return chosen


def _change_from_input(manifest: pd.DataFrame, readings: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Each reading minus the reading of its face's input (NaN for a face whose input was not read)."""
    change = np.full_like(readings, np.nan)
    no_input = []
    for face, group in manifest.groupby("face", sort=True):
        inputs = group.index[group["kind"] == "input"]
        base = readings[inputs[0]] if len(inputs) else np.full(NUM_AUS, np.nan)
        if not np.isfinite(base).all():
            no_input.append(int(face))
        change[group.index] = readings[group.index] - base
    return change, no_input


def _export_identity(folder: Path, manifest: pd.DataFrame) -> tuple[list[float], list[float]]:
    """PSNR and SSIM of every exported render against its face's exported input (:func:`~.fidelity.identity_scores`)."""
    psnr, ssim = [], []
    for _, group in manifest.groupby("face", sort=True):
        images = {file: _read_png(folder / file) for file in group["file"]}
        inputs = group.loc[group["kind"] == "input", "file"]
        renders = [images[file] for file in group.loc[group["kind"] != "input", "file"]]
        if len(inputs) and renders:
            face_psnr, face_ssim = identity_scores(torch.stack(renders), images[inputs.iloc[0]])
            psnr += face_psnr
            ssim += face_ssim
    return psnr, ssim


def _read_png(path: Path) -> torch.Tensor:
    """An exported image as a 3 x H x W float tensor in 0..1 (missing or unreadable: an error naming the file)."""
    return torch.from_numpy(read_rgb(path, min_side=1).copy()).permute(2, 0, 1).float() / 255  # writable copy
