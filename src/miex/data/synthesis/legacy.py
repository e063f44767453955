"""Import the MiE-X release of the paper's authors into this project's dataset format.

The release is one folder per sample, ``<identity>_<source>_<label>/`` holding ``0.jpg`` (onset) and ``1.jpg``
(apex). The identity may contain underscores, so names are split from the right. JPEG bytes are kept as released
(no re-encoding, no quality loss). The release has no AU vectors: ``onset_au``/``apex_au`` are NaN, which no real
measurement can be, and the card says so. Problems are reported per folder (or raise with ``strict``). A link (sample
folder or frame) that leads outside the release is never followed: it is reported and skipped.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections import Counter
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm.auto import tqdm

from miex.core.errors import MiexInputError
from miex.core.fileio import OutputLock, contained, write_json_atomic
from miex.core.report import ValidationReport
from miex.data.aus.schema import LABEL_NAMES, NUM_AUS
from miex.data.layout import STATE_DIR
from miex.data.plan.seeds import stable_int
from miex.data.synthesis.card import finish_dataset
from miex.data.synthesis.engine import RUN_NAME, claim_output, guard_output_folder
from miex.data.synthesis.schema import miex_features
from miex.data.synthesis.shards import is_finished, plan_shards, write_shard

SOURCE_ALIASES: dict[str, str] = {
    "mie": "mie",
    "micro": "mie",
    "real": "mie",
    "casme": "mie",
    "samm": "mie",
    "smic": "mie",
    "mae": "mae",
    "macro": "mae",
    "early": "mae",
    "ck": "mae",
    "ckplus": "mae",
    "ck+": "mae",
    "oulu": "mae",
    "expert": "expert",
    "au": "expert",
    "rule": "expert",
    "rules": "expert",
    "knowledge": "expert",
}
"""Spellings of the AU source in release folder names (case-insensitive); extend with ``--source-map``."""

FRAMES = ("0.jpg", "1.jpg")
IMPORT_NOTES = """## Imported from the authors' release

These frames are the MiE-X release of the paper's authors (rendered with GANimation), imported by
`miex import-legacy` with their JPEG bytes unchanged. The release holds no AU vectors: `onset_au` and `apex_au` are
NaN (never a measurement), the provenance columns are empty (so the fold filter cannot remove samples derived from
real test subjects: do not mix this set with a real corpus's test subjects unless you know the release excluded
them), and there is no `plan.parquet`. Sources were read from the folder names (`<identity>_<source>_<label>`)."""
LEGACY_GENERATOR = {
    "name": "legacy-release",
    "model": "GANimation (MiE-X authors' release)",
    "aus": "not released: onset_au/apex_au are NaN",
}


@dataclass(frozen=True)
class LegacySample:
    folder: Path
    identity: str
    source: str
    label: int


def load_source_map(spec: str | PathLike[str] | None) -> dict[str, str]:
    """The default aliases, updated from ``{spelling: mie|mae|expert}`` given inline as JSON or as a JSON file."""
    aliases = dict(SOURCE_ALIASES)
    if spec is None:
        return aliases
    text = str(spec)
    try:
        extra = json.loads(text if text.lstrip().startswith("{") else Path(text).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise MiexInputError(
            f"--source-map takes a JSON object or a JSON file ({error})", file=text, field="source_map"
        ) from error
    if not isinstance(extra, dict):
        raise MiexInputError("--source-map must be a JSON object {spelling: source}", file=text, field="source_map")
    for spelling, source in extra.items():
        if source not in ("mie", "mae", "expert"):
            raise MiexInputError(
                f"{spelling!r} maps to {source!r}; expected mie, mae or expert", file=text, field=spelling
            )
        aliases[spelling.lower()] = source
    return aliases


def parse_label(text: str) -> int | None:
    if text.isdigit() and int(text) < len(LABEL_NAMES):
        return int(text)
    lowered = text.lower()
    return LABEL_NAMES.index(lowered) if lowered in LABEL_NAMES else None


def _leads_outside(root: Path, path: Path) -> bool:
    """Whether ``path`` (inside ``root`` by name) resolves outside ``root``: a link out of the release."""
    try:
        contained(root, path.relative_to(root))
    except MiexInputError:
        return True
    return False


def scan_release(root: Path, aliases: dict[str, str], report: ValidationReport) -> list[LegacySample]:
    """Every well-formed sample folder, sorted by name; the rest reported with the reason."""
    if not root.is_dir():
        raise MiexInputError("release folder not found", file=root)
    samples: list[LegacySample] = []
    first: dict[tuple[str, str, int], str] = {}
    for loose in sorted(p for p in root.iterdir() if not p.is_dir() and not p.name.startswith(".")):
        report.add("not a sample folder (a loose file in the release)", file=loose, field="name")
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if _leads_outside(root, folder):
            report.add("a link leading outside the release; not imported", file=folder, field="name")
            continue
        parts = folder.name.rsplit("_", 2)
        if len(parts) != 3 or not parts[0]:
            report.add("folder name is not <identity>_<source>_<label>", file=folder, field="name")
            continue
        identity, source_text, label_text = parts
        source = aliases.get(source_text.lower())
        if source is None:
            report.add(f"unknown source {source_text!r} (extend --source-map)", file=folder, field="source")
            continue
        label = parse_label(label_text)
        if label is None:
            report.add(
                f"unknown label {label_text!r} (expected 0/1/2 or {'/'.join(LABEL_NAMES)})", file=folder, field="label"
            )
            continue
        missing = [name for name in FRAMES if not (folder / name).is_file()]
        if missing:
            report.add(f"missing frame(s) {missing}", file=folder, field=missing[0])
            continue
        outside = [name for name in FRAMES if _leads_outside(root, folder / name)]
        if outside:
            report.add(
                "frame is a link leading outside the release; not imported", file=folder / outside[0], field=outside[0]
            )
            continue
        key = (identity, source, label)
        if key in first:
            report.add(f"duplicate of {first[key]} (same identity, source and class)", file=folder, field="name")
            continue
        first[key] = folder.name
        samples.append(LegacySample(folder, identity, source, label))
    if not samples:
        raise MiexInputError(
            "no sample folder found (expected <identity>_<source>_<label>/0.jpg, 1.jpg)"
            + (f"\n{report.render()}" if len(report) else ""),
            file=root,
        )
    return samples


def _checked_frame(path: Path) -> tuple[str, tuple[int, int]]:
    """(sha256, size) of a JPEG frame, after decoding it fully (a truncated file is an error, not a half-picture)."""
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            kind, size = image.format, image.size
    except (OSError, SyntaxError, ValueError) as error:
        raise MiexInputError(f"unreadable or truncated image ({error})", file=path) from error
    if kind != "JPEG":
        raise MiexInputError(f"expected a JPEG frame, found {kind}", file=path)
    return hashlib.sha256(data).hexdigest(), size


def legacy_row(sample: LegacySample, frames: list[bytes]) -> dict[str, Any]:
    nan = [math.nan] * NUM_AUS
    return {
        "onset": {"bytes": frames[0], "path": None},
        "apex": {"bytes": frames[1], "path": None},
        "label": sample.label,
        "source": sample.source,
        "emotion": LABEL_NAMES[sample.label],
        "onset_au": nan,
        "apex_au": nan,
        "identity": sample.identity,
        "source_dataset": "",
        "source_subject": "",
        "source_clip": "",
        "generator": json.dumps(LEGACY_GENERATOR, sort_keys=True, separators=(",", ":")),
        "sample_id": sample.folder.name,
        "seed": stable_int(0, "legacy", sample.folder.name),
    }


def _readable(samples: list[LegacySample], report: ValidationReport) -> tuple[list[LegacySample], list[str]]:
    """Decode every frame once up front, so the shard layout never depends on where a bad file sits.

    Returns the usable samples and their frames' content digests (the resume fingerprint). Onset and apex must have
    the same size, and every sample the release's most common size (the card's sample grid stacks them)."""
    checked = []
    for sample in tqdm(samples, desc="check frames", unit="sample"):
        try:
            frames = [_checked_frame(sample.folder / name) for name in FRAMES]
        except MiexInputError as error:
            report.add(error.reason, file=error.file or sample.folder, field="frame")
            continue
        if frames[0][1] != frames[1][1]:
            report.add(f"onset is {frames[0][1]} but apex is {frames[1][1]} pixels", file=sample.folder, field="frame")
            continue
        checked.append((sample, frames))
    sizes = Counter(frames[0][1] for _, frames in checked)
    common = sizes.most_common(1)[0][0] if sizes else None
    kept, digests = [], []
    for sample, frames in checked:
        if frames[0][1] != common:
            report.add(
                f"frames are {frames[0][1]} pixels, the release's are {common}", file=sample.folder, field="frame"
            )
            continue
        kept.append(sample)
        digests.append(f"{sample.folder.name}:{sample.source}:{sample.label}:{frames[0][0]}:{frames[1][0]}")
    return kept, digests


def import_legacy(
    root: str | PathLike[str],
    out: str | PathLike[str],
    *,
    shard_size: int = 1000,
    source_map: str | PathLike[str] | None = None,
    strict: bool = False,
    overwrite: bool = False,
) -> tuple[int, ValidationReport]:
    """Convert the release at ``root`` into a MiE-X folder at ``out``; returns (samples written, report)."""
    root, out = Path(root), Path(out)
    report = ValidationReport(strict=strict)
    samples, digests = _readable(scan_release(root, load_source_map(source_map), report), report)
    if not samples:
        raise MiexInputError("every sample folder was skipped\n" + report.render(), file=root)
    fingerprint = hashlib.sha256("\n".join(["legacy", str(shard_size), *digests]).encode()).hexdigest()
    guard_output_folder(out, overwrite, [root])
    with OutputLock(out):  # one run at a time writes the folder
        claim_output(out, fingerprint, overwrite, command="miex import-legacy")
        write_json_atomic(
            out / STATE_DIR / RUN_NAME,
            {
                "fingerprint": fingerprint,
                "samples": len(samples),
                "generator": LEGACY_GENERATOR,
                "plan_params": {"imported_from": "MiE-X authors' release", "source_map": source_map or "builtin"},
                "engine": {"shard_size": shard_size, "encoding": {"format": "jpeg", "jpeg_quality": "as released"}},
            },
        )
        features = miex_features()
        shards = plan_shards(len(samples), shard_size)
        with tqdm(total=len(samples), desc="import", unit="sample") as bar:
            for shard in shards:
                if not is_finished(shard, out, fingerprint):
                    rows = [
                        legacy_row(s, [(s.folder / n).read_bytes() for n in FRAMES])
                        for s in samples[shard.start : shard.stop]
                    ]
                    write_shard(shard, out, rows, features, fingerprint)
                bar.update(shard.stop - shard.start)
        finish_dataset(
            out,
            features,
            video=False,
            context={"inputs": "the MiE-X authors' release", "load_path": str(out), "notes": IMPORT_NOTES},
        )
    return len(samples), report
