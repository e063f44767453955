"""Training data for GANimation: aligned faces with their AUs, and a resumable sampling order.

Two layouts are read: a face folder plus a tidy AU table (rows matched by path relative to the folder, else by file
name), or GANimation's sample-data layout (``imgs/``, ``aus_openface.pkl``, ``train_ids.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from miex.core.errors import MiexInputError
from miex.data.aus import image_id, read_au_table, read_ganimation_aus, read_ganimation_ids
from miex.data.aus.schema import AU_NAMES, to_generator_scale
from miex.data.faces.image import FACE_IMAGE_SUFFIXES


@dataclass
class FaceAUDataset(torch.utils.data.Dataset):
    """Faces (loaded lazily, resized to ``image_size``, in [-1, 1]) with AUs on the 0 to 5 scale."""

    paths: list[Path]
    aus: np.ndarray
    image_size: int = 128

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(image in [-1, 1], conditioning = AUs / 5 in [0, 1])."""
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB").resize((self.image_size, self.image_size), Image.BICUBIC)
        except OSError as error:
            raise MiexInputError(f"unreadable image ({error})", file=path) from error
        pixels = torch.from_numpy(np.asarray(rgb, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
        return pixels, torch.from_numpy(to_generator_scale(self.aus[index]))


def from_ganimation_layout(root: str | PathLike[str], *, split: str = "train", image_size: int = 128) -> FaceAUDataset:
    """GANimation's sample data: every id in ``<split>_ids.csv`` must have an image and an AU vector."""
    root = Path(root)
    aus = read_ganimation_aus(root / "aus_openface.pkl")
    names = read_ganimation_ids(root / f"{split}_ids.csv")
    paths, vectors = [], []
    for row, name in enumerate(names):
        key = image_id(name)
        path = root / "imgs" / name
        if not path.suffix:
            path = next((p for p in (root / "imgs").glob(f"{name}.*")), path)
        if not path.is_file():
            raise MiexInputError("image listed but not found in imgs/", file=root / f"{split}_ids.csv", row=row)
        if key not in aus:
            raise MiexInputError(f"no AUs for id {key!r} in aus_openface.pkl", file=root / f"{split}_ids.csv", row=row)
        paths.append(path)
        vectors.append(aus[key])
    return FaceAUDataset(paths, np.stack(vectors).astype(np.float32), image_size)


def from_face_folder(
    faces: str | PathLike[str], au_table: str | PathLike[str], *, image_size: int = 128
) -> FaceAUDataset:
    """Faces in a folder + an AU table; every image needs exactly one table row (matched by relative path or name)."""
    faces = Path(faces)
    table = read_au_table(au_table)
    by_path = {str(Path(p)): i for i, p in enumerate(table["path"])}
    by_name: dict[str, list[int]] = {}
    for i, p in enumerate(table["path"]):
        by_name.setdefault(Path(p).name, []).append(i)
    files = sorted(p for p in faces.rglob("*") if p.suffix.lower() in FACE_IMAGE_SUFFIXES)
    if not files:
        raise MiexInputError("no face images found", file=faces)
    rows = []
    for file in files:
        relative = str(file.relative_to(faces))
        row = by_path.get(relative, by_path.get(str(file)))
        if row is None:
            candidates = by_name.get(file.name, [])
            if len(candidates) != 1:
                why = "no" if not candidates else f"{len(candidates)} ambiguous"
                raise MiexInputError(f"{why} AU table rows match image {relative!r}", file=au_table, field="path")
            row = candidates[0]
        rows.append(row)
    aus = table.loc[rows, list(AU_NAMES)].to_numpy(np.float32)
    return FaceAUDataset(files, aus, image_size)


class ResumableOrder:
    """Shuffled epochs from ``seed``; the position is checkpointed, so a resumed run sees the same batches."""

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        if size < batch_size:
            raise MiexInputError(f"{size} training faces are fewer than one batch of {batch_size}")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.epoch, self.position = 0, 0

    def _permutation(self) -> torch.Tensor:
        return torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100003 + self.epoch))

    def next_batch(self) -> list[int]:
        """The next full batch (the incomplete tail of an epoch is skipped, as with ``drop_last``)."""
        if self.position + self.batch_size > self.size:
            self.epoch, self.position = self.epoch + 1, 0
        batch = self._permutation()[self.position : self.position + self.batch_size].tolist()
        self.position += self.batch_size
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
