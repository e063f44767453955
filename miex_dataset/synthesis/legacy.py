"""Import the authors' MiE-X release into this project's format (parquet shards + dataset card).

The release holds one folder per sample, ``<id>_<source>_<label>/``, with ``0.jpg`` (onset) and ``1.jpg`` (apex)
rendered by the authors with GANimation. ``<id>`` is the identity and may itself contain ``_``, so the name is split
at its last two underscores. ``<label>`` is ``0``/``1``/``2`` or ``negative``/``positive``/``surprise``; ``<source>``
is one of the spellings of :data:`DEFAULT_SOURCE_MAP` (any case), which the user may extend or override.

What a converted row holds:

- ``onset``/``apex``: the release's JPEG bytes, unchanged (never re-encoded, so no quality is lost);
- ``onset_au``/``apex_au``: 17 NaN each. The release has no AU vectors; NaN can never be taken for a real intensity
  (0 would read as "neutral face"), and the card and ``--help`` say so;
- ``source_dataset``/``source_subject``/``source_clip``: empty (the release records no provenance);
- ``generator``: a JSON note naming the release (:data:`GENERATOR`); ``emotion``: the class name;
  ``sample_id``: the folder name; ``identity``: its ``<id>`` part; ``seed``: 0 (the release records no seed).

Every problem (a name that does not parse, an unknown source or label, a missing frame, an unreadable, truncated or
non-JPEG image, a duplicate sample, a frame size differing from the rest) is reported per folder, with the file and the
field, and the folder is skipped; with ``strict`` the first one raises :class:`~miex_dataset.errors.MiexInputError`.

Rows are sorted by sample id and cut into fixed shards by :func:`.shards.write_shard`, so the same release gives the
same bytes; ``.miex/run.json`` holds the settings :func:`.card.finish_dataset` reads, and shard receipts make an
interrupted import resume.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from ..aus.schema import LABEL_NAMES, NUM_AUS
from ..corpora.report import ValidationReport
from ..errors import MiexInputError
from ..faces.runner import read_json, write_json_atomic
from ..sources.triplet import SOURCES
from .schema import miex_features
from .shards import DATA_DIR, STATE_DIR, Shard, is_finished, plan_shards, write_shard

IMPORT_FORMAT = "miex-import-legacy/1"
"""Version of the conversion; part of the run fingerprint, so a changed conversion never resumes an old folder."""
RUN_NAME = "run.json"
"""The run state file the card reads (same name as :data:`.engine.RUN_NAME`)."""
PLAN_NAME = "plan.parquet"
"""A ``miex synthesize`` plan; removed with ``overwrite`` since an import has none (same as :data:`.engine.PLAN_NAME`)."""

FRAME_FILES: tuple[tuple[str, str], ...] = (("onset", "0.jpg"), ("apex", "1.jpg"))

DEFAULT_SOURCE_MAP: dict[str, str] = {
    "mie": "mie", "micro": "mie", "real": "mie",
    "mae": "mae", "macro": "mae", "ck": "mae", "ckplus": "mae", "early": "mae",
    "expert": "expert", "au": "expert", "rule": "expert",
}  # fmt: skip
"""Folder-name spelling of the AU source (compared lower-cased) -> this project's source name."""

LABEL_SPELLINGS: dict[str, int] = {
    **{str(code): code for code in range(len(LABEL_NAMES))},
    **{name: code for code, name in enumerate(LABEL_NAMES)},
}
"""Folder-name spelling of the class (compared lower-cased): 0/1/2 or negative/positive/surprise."""

MISSING_AUS: tuple[float, ...] = (float("nan"),) * NUM_AUS
"""What ``onset_au``/``apex_au`` hold: the release has no AU vectors, and NaN cannot pass for a measured value."""

ORIGINAL_QUALITY = "as released (original JPEG bytes, not re-encoded)"
"""Stands where a synthesis run records its JPEG quality (the card prints "JPEG quality <this>")."""

GENERATOR: dict[str, str] = {
    "name": "ganimation-authors-release",
    "model": "GANimation",
    "origin": "MiE-X release of the paper's authors (Liu et al., ECCV 2022), converted by `miex import-legacy`",
    "frames": "the release's JPEG files, byte for byte (not re-encoded)",
    "aus": "not released: onset_au and apex_au are NaN",
    "format": IMPORT_FORMAT,
}
"""The ``generator`` column (as compact JSON) and the run's generator record."""

SECTION_TITLE = "## Imported from the authors' release"


@dataclass(frozen=True)
class Frame:
    """A checked frame: its digest (verified again when the bytes are copied), byte count and pixel size."""

    sha256: str
    bytes: int
    size: tuple[int, int]


@dataclass(frozen=True)
class LegacySample:
    """One usable sample folder of the release."""

    sample_id: str
    folder: Path
    identity: str
    source: str
    label: int
    onset: Frame
    apex: Frame

    @property
    def key(self) -> tuple[str, str, int]:
        """What makes a sample unique in the release: one sample per identity, source and class."""
        return self.identity, self.source, self.label


@dataclass
class ReleaseScan:
    """The usable samples (sorted by sample id), the skipped entries of the release and every problem found."""

    root: Path
    samples: list[LegacySample]
    skipped: list[str]
    report: ValidationReport
    source_map: dict[str, str]

    def counts(self) -> pd.DataFrame:
        """Samples per source (rows) x class (columns), every source and class shown, with totals."""
        table = pd.DataFrame(0, index=list(SOURCES), columns=list(LABEL_NAMES), dtype="int64")
        for sample in self.samples:
            table.loc[sample.source, LABEL_NAMES[sample.label]] += 1
        table["total"] = table.sum(axis=1)
        table.loc["total"] = table.sum(axis=0)
        table.index.name = "source"
        return table


@dataclass
class LegacySummary:
    """What an import wrote: shards rewritten this run and kept from an interrupted one, and the scan."""

    out: Path
    scan: ReleaseScan
    shards: int
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    fingerprint: str = ""

    def render(self) -> str:
        """The per-source x class counts and the skipped entries, for the end of the command's output."""
        samples, skipped = len(self.scan.samples), self.scan.skipped
        fields = Counter(p.field or "other" for p in self.scan.report.skipped)
        reasons = ", ".join(f"{count} {name}" for name, count in sorted(fields.items()))
        lines = [
            "samples per source x class:",
            self.scan.counts().to_string(),
            f"{samples} sample(s) imported into {len(self.written) + len(self.kept)} shard(s) at {self.out} "
            f"({len(self.written)} written, {len(self.kept)} kept from an earlier run)",
            f"{len(skipped)} release entr{'y' if len(skipped) == 1 else 'ies'} skipped"
            + (f" (problems by field: {reasons})" if reasons else ""),
        ]
        lines += [f"  skipped: {name}" for name in skipped]
        return "\n".join(lines)


def source_map_from(value: str | PathLike[str] | Mapping[str, Any] | None) -> dict[str, str]:
    """:data:`DEFAULT_SOURCE_MAP` updated by the user's mapping ``{spelling: "mie" | "mae" | "expert" | null}``.

    ``value`` is a mapping, a JSON object given inline (text starting with ``{``) or the path of a JSON file. A
    spelling mapped to ``null`` is removed (folders spelled so are then reported as unknown). Spellings compare
    lower-cased and cannot contain ``_`` (the folder name is split at underscores)."""
    mapping = dict(DEFAULT_SOURCE_MAP)
    if value is None:
        return mapping
    where: Path | None = None
    given: Any = value
    if not isinstance(value, Mapping):
        text = str(value)
        if not text.lstrip().startswith("{"):
            where = Path(text)
            if not where.is_file():
                raise MiexInputError("--source-map takes a JSON object such as '{\"ckp\": \"mae\"}' or the path of "
                                     "a JSON file holding one; no such file", file=where, field="source_map")  # fmt: skip
            text = where.read_text(encoding="utf-8")
        try:
            given = json.loads(text)
        except json.JSONDecodeError as error:
            raise MiexInputError(f"--source-map is not valid JSON: {error}", file=where, field="source_map") from error
    if not isinstance(given, Mapping):
        raise MiexInputError("--source-map must be a JSON object {spelling: source}, e.g. {\"ckp\": \"mae\"}",
                             file=where, field="source_map")  # fmt: skip
    for spelling, source in given.items():
        key = str(spelling).strip().lower()
        if not key or "_" in key:
            raise MiexInputError(f"source spelling {spelling!r} must be non-empty and without '_' (folder names are "
                                 "split at underscores)", file=where, field="source_map")  # fmt: skip
        if source is None:
            mapping.pop(key, None)
            continue
        if not isinstance(source, str) or source.strip().lower() not in SOURCES:
            raise MiexInputError(f"source spelling {spelling!r} maps to {source!r}; expected one of "
                                 f"{', '.join(SOURCES)} or null (to drop the spelling)", file=where,
                                 field="source_map")  # fmt: skip
        mapping[key] = source.strip().lower()
    return dict(sorted(mapping.items()))


def parse_sample_name(name: str, source_map: Mapping[str, str]) -> tuple[tuple[str, str, int] | None, list[tuple]]:
    """``<id>_<source>_<label>`` -> ``(identity, source, label)``, or None and the problems as ``(field, reason)``."""
    parts = name.rsplit("_", 2)
    if len(parts) < 3 or not parts[0]:
        return None, [("name", f"folder name {name!r} is not <id>_<source>_<label> (e.g. 000123_mie_0)")]
    identity, spelled_source, spelled_label = parts
    problems: list[tuple] = []
    source = source_map.get(spelled_source.lower())
    if source is None:
        known = " ".join(f"{spelling}->{target}" for spelling, target in source_map.items())
        problems.append(("source", f"unknown AU source {spelled_source!r} (known spellings: {known}); map it with "
                                   f"--source-map '{{\"{spelled_source.lower()}\": \"mie\"}}' (or mae, expert)"))
    label = LABEL_SPELLINGS.get(spelled_label.lower())
    if label is None:
        problems.append(("label", f"unknown class label {spelled_label!r} (expected 0, 1, 2 or "
                                  f"{', '.join(LABEL_NAMES)})"))  # fmt: skip
    if problems:
        return None, problems
    assert source is not None and label is not None
    return (identity, source, label), []


def check_frame(path: Path) -> tuple[Frame | None, str]:
    """A frame file's digest and size, or None and why it cannot be used (missing, unreadable, truncated, not JPEG)."""
    if not path.is_file():
        return None, "missing" + (" (a folder, not a file)" if path.exists() else "")
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, f"cannot be read ({error})"
    if not data:
        return None, "empty file"
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            image.load()  # decodes every scanline: a truncated file raises here
            size = image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return None, f"unreadable or truncated image ({error})"
    if kind != "JPEG":
        return None, f"not a JPEG file ({kind} data); the release stores JPEG frames"
    return Frame(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), size=size), ""


def _check_folder(folder: Path, source_map: Mapping[str, str], report: ValidationReport) -> LegacySample | None:
    """Every problem of one sample folder is reported (the folder is then skipped); extra files are noted."""
    problems: list[tuple[Path, str, str]] = []
    parsed, name_problems = parse_sample_name(folder.name, source_map)
    problems += [(folder, name, reason) for name, reason in name_problems]
    frames: dict[str, Frame] = {}
    for role, filename in FRAME_FILES:
        frame, why = check_frame(folder / filename)
        if frame is None:
            problems.append((folder / filename, filename, f"{role} frame {filename}: {why}"))
        else:
            frames[role] = frame
    if len(frames) == 2 and frames["onset"].size != frames["apex"].size:
        (ow, oh), (aw, ah) = frames["onset"].size, frames["apex"].size
        problems.append((folder / FRAME_FILES[1][1], "size", f"apex frame is {aw}x{ah} but the onset frame is "
                                                              f"{ow}x{oh}; both frames come from one face"))
    for path, name, reason in problems:
        report.add(reason, file=path, field=name)
    if problems or parsed is None:
        return None
    wanted = {filename for _, filename in FRAME_FILES}
    extra = sorted(child.name for child in folder.iterdir() if child.name not in wanted)
    if extra:
        report.note(f"extra file(s) not imported: {', '.join(extra)}", file=folder, field="files")
    identity, source, label = parsed
    return LegacySample(sample_id=folder.name, folder=folder, identity=identity, source=source, label=label,
                        onset=frames["onset"], apex=frames["apex"])  # fmt: skip


def scan_release(
    root: str | PathLike[str],
    *,
    source_map: Mapping[str, str] | None = None,
    strict: bool = False,
    exclude: str | PathLike[str] | None = None,
    progress: bool = True,
) -> ReleaseScan:
    """Check every entry of the release folder; returns the usable samples sorted by sample id.

    Entries whose name starts with ``.`` (``.DS_Store``, ``.git``) are not samples and are passed over; any other
    file or folder that is not a usable sample is reported and skipped. Duplicates (two folders naming the same
    identity, source and class, e.g. ``7_mie_0`` and ``7_micro_negative``): the first in name order is kept.
    All samples must share one frame size (the sample grid and batched training need it): samples whose size
    differs from the most common one are reported and skipped. ``exclude``: a path inside ``root`` passed over (the
    output folder)."""
    root = Path(root)
    if not root.is_dir():
        raise MiexInputError("not a folder: expected the MiE-X release (one <id>_<source>_<label>/ folder per sample "
                             "holding 0.jpg and 1.jpg)", file=root)  # fmt: skip
    source_map = dict(source_map) if source_map is not None else dict(DEFAULT_SOURCE_MAP)
    report = ValidationReport(strict=strict)
    skip = Path(exclude).resolve() if exclude is not None else None
    entries = sorted((p for p in root.iterdir() if not p.name.startswith(".") and p.resolve() != skip),
                     key=lambda p: p.name)  # fmt: skip
    skipped: list[str] = []
    found: list[LegacySample] = []
    for entry in tqdm(entries, desc="check release", unit="sample", disable=not progress or not entries,
                      dynamic_ncols=True):  # fmt: skip
        if not entry.is_dir():
            report.add("not a sample folder (a file); the release holds one <id>_<source>_<label>/ folder per "
                       "sample", file=entry, field="name")  # fmt: skip
            skipped.append(entry.name)
            continue
        sample = _check_folder(entry, source_map, report)
        if sample is None:
            skipped.append(entry.name)
        else:
            found.append(sample)
    samples = _drop_duplicates(found, report, skipped)
    samples = _drop_odd_sizes(samples, report, skipped)
    return ReleaseScan(root=root, samples=samples, skipped=sorted(skipped), report=report, source_map=source_map)


def _drop_duplicates(samples: list[LegacySample], report: ValidationReport, skipped: list[str]) -> list[LegacySample]:
    first: dict[tuple[str, str, int], LegacySample] = {}
    kept = []
    for sample in samples:
        if sample.key in first:
            other = first[sample.key]
            report.add(f"duplicate sample: {other.sample_id!r} already is identity {sample.identity!r}, source "
                       f"{sample.source}, class {LABEL_NAMES[sample.label]} (kept that one)", file=sample.folder,
                       field="sample_id")  # fmt: skip
            skipped.append(sample.sample_id)
        else:
            first[sample.key] = sample
            kept.append(sample)
    return kept


def _drop_odd_sizes(samples: list[LegacySample], report: ValidationReport, skipped: list[str]) -> list[LegacySample]:
    sizes = Counter(sample.onset.size for sample in samples)
    if len(sizes) < 2:
        return samples
    common = min(sizes, key=lambda size: (-sizes[size], size))
    kept = []
    for sample in samples:
        if sample.onset.size == common:
            kept.append(sample)
            continue
        (width, height), (cw, ch) = sample.onset.size, common
        report.add(f"frames are {width}x{height} but {sizes[common]} sample(s) of the release are {cw}x{ch}; one "
                   "frame size per dataset", file=sample.folder, field="size")  # fmt: skip
        skipped.append(sample.sample_id)
    return kept


def import_fingerprint(samples: list[LegacySample], shard_size: int) -> str:
    """Identity of an import: conversion version, shard size and every sample with its frames' digests."""
    payload = {"format": IMPORT_FORMAT, "generator": GENERATOR, "shard_size": shard_size,
               "samples": [[s.sample_id, s.identity, s.source, s.label, s.onset.sha256, s.apex.sha256]
                           for s in samples]}  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def legacy_row(sample: LegacySample, generator: str) -> dict[str, Any]:
    """One MiE-X row: the frames' original bytes (checked against the scan's digests), NaN AUs, no provenance."""
    frames = {}
    for (role, filename), expected in zip(FRAME_FILES, (sample.onset, sample.apex), strict=True):
        path = sample.folder / filename
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != expected.sha256:
            raise MiexInputError("the file changed while the release was being imported; run the import again",
                                 file=path, field=filename)  # fmt: skip
        frames[role] = {"bytes": data, "path": None}
    return {**frames, "label": sample.label, "source": sample.source, "emotion": LABEL_NAMES[sample.label],
            "onset_au": list(MISSING_AUS), "apex_au": list(MISSING_AUS), "identity": sample.identity,
            "source_dataset": "", "source_subject": "", "source_clip": "", "generator": generator,
            "sample_id": sample.sample_id, "seed": 0}  # fmt: skip


def _prepare_output(out: Path, fingerprint: str, overwrite: bool) -> None:
    """Refuse (without ``overwrite``) a folder holding another dataset; keep one holding this same import."""
    if out.exists() and not out.is_dir():
        raise MiexInputError("--out must be a folder (it is a file)", file=out)
    run_file = out / STATE_DIR / RUN_NAME
    data = out / DATA_DIR
    if run_file.is_file():
        try:
            previous = read_json(run_file).get("fingerprint")
        except (ValueError, AttributeError):
            previous = None
        if previous == fingerprint:
            return  # the same import: finished shards are kept, the rest rewritten
        if not overwrite:
            raise MiexInputError("output folder holds another MiE-X (a different import or a `miex synthesize` "
                                 "run): choose another --out or pass --overwrite", file=run_file)  # fmt: skip
    elif data.is_dir() and any(data.iterdir()) and not overwrite:
        raise MiexInputError("output folder already holds data not written by `miex import-legacy`: choose another "
                             "--out or pass --overwrite", file=out)  # fmt: skip
    for stale in (data, out / STATE_DIR):
        shutil.rmtree(stale, ignore_errors=True)
    (out / PLAN_NAME).unlink(missing_ok=True)


def _write_run_state(out: Path, scan: ReleaseScan, fingerprint: str, shards: int, shard_size: int,
                     strict: bool, overwrite: bool) -> None:  # fmt: skip
    """``.miex/run.json`` with the keys the card reads (generator, plan_params, engine with its encoding)."""
    settings = {
        "fingerprint": fingerprint, "shards": shards, "samples": len(scan.samples), "generator": GENERATOR,
        "engine": {"importer": "miex import-legacy", "format": IMPORT_FORMAT, "shard_size": shard_size,
                   "encoding": {"format": "jpeg", "jpeg_quality": ORIGINAL_QUALITY}, "strict": strict,
                   "overwrite": overwrite},
        "plan_params": {"plan": "none: one sample per folder of the authors' release", "source_map": scan.source_map},
    }  # fmt: skip
    write_json_atomic(out / STATE_DIR / RUN_NAME, settings)


def write_release(
    scan: ReleaseScan,
    out: str | PathLike[str],
    *,
    shard_size: int = 1000,
    overwrite: bool = False,
    load_path: str | None = None,
    progress: bool = True,
) -> LegacySummary:
    """Write the scanned samples as fixed parquet shards, then the dataset card; resumes an interrupted import."""
    out = Path(out)
    if not scan.samples:
        raise MiexInputError(f"no usable sample folder in the release ({len(scan.skipped)} entr"
                             f"{'y' if len(scan.skipped) == 1 else 'ies'} skipped, see the problems listed); "
                             "nothing was written", file=scan.root)  # fmt: skip
    if shard_size < 1:
        raise MiexInputError(f"shard size must be >= 1, got {shard_size}", field="shard_size")
    fingerprint = import_fingerprint(scan.samples, shard_size)
    _prepare_output(out, fingerprint, overwrite)
    shards = plan_shards(len(scan.samples), shard_size)
    _write_run_state(out, scan, fingerprint, len(shards), shard_size, scan.report.strict, overwrite)
    features = miex_features()
    generator = json.dumps(GENERATOR, sort_keys=True, separators=(",", ":"))
    summary = LegacySummary(out=out, scan=scan, shards=len(shards), fingerprint=fingerprint)
    with tqdm(total=len(scan.samples), desc="import", unit="sample", disable=not progress,
              dynamic_ncols=True) as bar:  # fmt: skip
        for shard in shards:
            if is_finished(shard, out, fingerprint):
                summary.kept.append(shard.name)
                bar.update(shard.stop - shard.start)
                continue
            summary.written.append(_write_one(shard, scan.samples, out, features, generator, fingerprint, bar))
    from .card import finish_dataset

    context = {"inputs": {"release": str(scan.root), "samples": len(scan.samples),
                          "skipped_entries": len(scan.skipped)},
               "load_path": load_path or str(out)}  # fmt: skip
    card = finish_dataset(out, features, video=False, context=context)
    _add_card_section(card, scan)
    return summary


def _write_one(shard: Shard, samples: list[LegacySample], out: Path, features: Any, generator: str,
               fingerprint: str, bar: tqdm) -> str:  # fmt: skip
    rows = []
    for sample in samples[shard.start : shard.stop]:
        rows.append(legacy_row(sample, generator))
        bar.update()
    write_shard(shard, out, rows, features, fingerprint)
    return shard.name


def card_section(scan: ReleaseScan) -> str:
    """What differs from a synthesized MiE-X, for the card (placed before its first section)."""
    spellings = {source: sorted(s for s, target in scan.source_map.items() if target == source) for source in SOURCES}
    mapping = "; ".join(f"`{source}` <- {', '.join(f'`{s}`' for s in names) or '(none)'}"
                        for source, names in spellings.items())  # fmt: skip
    skipped = len(scan.skipped)
    return f"""{SECTION_TITLE}

This folder was converted by `miex import-legacy` from the MiE-X release of the paper's authors, whose frames were
rendered with GANimation. It differs from a folder made by `miex synthesize`:

- **Frames** `onset`/`apex` are the release's `0.jpg`/`1.jpg` files byte for byte (not re-encoded: no quality loss).
- **No AU vectors.** The release does not include the AU intensities its frames were rendered with: `onset_au` and
  `apex_au` hold {NUM_AUS} NaN (not-a-number) values in every row, so they cannot be mistaken for real intensities
  (test with `numpy.isnan`; the AU distribution plot below is empty for the same reason). Do not use these columns
  as targets or inputs.
- **No provenance.** `source_dataset`, `source_subject` and `source_clip` are empty: samples of source `mie` cannot
  be removed per cross-validation fold, so `miex train` refuses them when it evaluates on real subjects.
- `sample_id` is the release's folder name `<id>_<source>_<label>`, `identity` its `<id>` part, `emotion` the class
  name, `seed` 0 (the release records no seed), `generator` a JSON note naming the release. There is no
  `plan.parquet`.
- Source spellings read from the folder names: {mapping}.
- {skipped} entr{'y' if skipped == 1 else 'ies'} of the release {'was' if skipped == 1 else 'were'} skipped (listed
  by the import). Running `miex import-legacy` again on the same release gives the same shards byte for byte.

"""


def _add_card_section(card: Path, scan: ReleaseScan) -> None:
    """Insert :func:`card_section` before the card's first ``## `` heading (after the YAML header and title)."""
    text = card.read_text(encoding="utf-8")
    header_end = text.find("\n---\n", 3) if text.startswith("---\n") else 0
    at = text.find("\n## ", max(header_end, 0) + 1)
    section = card_section(scan)
    text = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n" if at < 0 else text[: at + 1] + section + text[at + 1 :]
    card.write_text(text, encoding="utf-8")


def import_legacy(
    root: str | PathLike[str],
    out: str | PathLike[str],
    *,
    source_map: str | PathLike[str] | Mapping[str, Any] | None = None,
    shard_size: int = 1000,
    strict: bool = False,
    overwrite: bool = False,
    load_path: str | None = None,
    progress: bool = True,
) -> LegacySummary:
    """Scan the release at ``root`` and write it to ``out`` (see the module docstring); one call."""
    scan = scan_release(root, source_map=source_map_from(source_map), strict=strict, exclude=out, progress=progress)
    return write_release(scan, out, shard_size=shard_size, overwrite=overwrite, load_path=load_path,
                         progress=progress)  # fmt: skip
