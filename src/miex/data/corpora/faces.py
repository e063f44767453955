"""Face-pool reader: any folder of face images as one-frame rows of the clip table (expression ``face``).

Identity defaults to one per image (the image path relative to ROOT, without its suffix: unique, so no two
pictures are silently merged into one person); ``identity_from="folder"`` takes the parent folder's name instead
(``<person>/<image>`` trees; images directly in ROOT get ROOT's name). The clip name is the relative image path.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Literal

from miex.core.fileio import IMAGE_SUFFIXES
from miex.core.report import ValidationReport
from miex.data.aus.schema import NO_LABEL
from miex.data.corpora.clips import Clip, check_clip_frames
from miex.data.corpora.common import Corpus, new_report, progress, require_root

IdentityFrom = Literal["image", "folder"]


def _identity(image: Path, relative: Path, identity_from: IdentityFrom) -> str:
    """Parent folder name (images directly in ROOT get ROOT's name), or the relative path without suffix."""
    if identity_from == "folder":
        return image.parent.name
    return relative.with_suffix("").as_posix()


def read_faces(
    root: str | PathLike[str],
    *,
    dataset: str = "faces",
    identity_from: IdentityFrom = "image",
    strict: bool = False,
    report: ValidationReport | None = None,
) -> Corpus:
    """Every image below ``root`` (recursive; jpg/jpeg/png/bmp/webp), sorted by path."""
    root = require_root(root, "face")
    report = new_report(report, strict)
    images = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    clips = []
    for image in progress(images, f"reading {dataset}", unit="image"):
        relative = image.relative_to(root)
        clip = Clip(
            dataset=dataset,
            subject=_identity(image, relative, identity_from),
            clip=relative.as_posix(),
            frames=[str(image)],
            frame_numbers=[0],
            onset=0,
            apex=0,
            offset=0,
            emotion="",
            label=NO_LABEL,
            fps=0.0,
            expression="face",
        )
        if check_clip_frames(clip, report, file=image):
            clips.append(clip)
    if not clips:
        report.add(f"no face images ({', '.join(sorted(IMAGE_SUFFIXES))}) found", file=root, field="frames")
    return Corpus(clips, report)
