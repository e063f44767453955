"""GANimation's sample-data format (docs/reference.md §Action units): ``imgs/``, ``train_ids.csv``/``test_ids.csv``,
``aus_openface.pkl``.

``aus_openface.pkl`` maps an image id (file name without extension) to a float array of 17 AU intensities on the
0 to 5 scale. The file released with GANimation was pickled by Python 2, which needs ``encoding="latin1"``.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path

import numpy as np

from ..errors import MiexInputError
from .schema import validate_au_array


def read_ganimation_aus(path: str | PathLike[str]) -> dict[str, np.ndarray]:
    """Load ``aus_openface.pkl`` (Python 2 or 3 pickle) as ``{image id: float32 (17,) on the 0-5 scale}``."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("AU pickle not found", file=path)
    with path.open("rb") as handle:
        try:
            data = pickle.load(handle, encoding="latin1")
        except (pickle.UnpicklingError, EOFError, ValueError) as error:
            raise MiexInputError(f"not a readable pickle ({error})", file=path) from error
    if not isinstance(data, Mapping):
        raise MiexInputError(f"expected a dict of image id -> AU array, got {type(data).__name__}", file=path)
    result: dict[str, np.ndarray] = {}
    for key, value in data.items():
        image_id = key.decode("latin1") if isinstance(key, bytes) else str(key)
        try:
            result[image_id] = validate_au_array(value, where=f"{path}: id {image_id!r}")
        except ValueError as error:
            raise MiexInputError(str(error).split(": ", 2)[-1], file=path, field=image_id) from error
    return result


def write_ganimation_aus(aus: Mapping[str, np.ndarray], path: str | PathLike[str]) -> None:
    """Write ``{image id: 17 AUs on the 0-5 scale}`` as GANimation's ``aus_openface.pkl`` (protocol 2, readable by
    the original Python 2 code and by Python 3)."""
    payload = {
        str(image_id): validate_au_array(values, where=f"id {image_id!r}").astype(np.float64)
        for image_id, values in aus.items()
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("wb") as handle:
        pickle.dump(payload, handle, protocol=2)


def read_ganimation_ids(path: str | PathLike[str]) -> list[str]:
    """Read ``train_ids.csv``/``test_ids.csv``: one image file name per line (blank lines ignored)."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("id list not found", file=path)
    names = [line.strip().strip('"') for line in path.read_text(encoding="utf-8").splitlines()]
    return [name for name in names if name]


def write_ganimation_ids(names: Iterable[str], path: str | PathLike[str]) -> None:
    """Write one image file name per line, the layout GANimation's data loader expects."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(f"{name}\n" for name in names), encoding="utf-8")


def image_id(file_name: str) -> str:
    """GANimation keys AUs by the file name without its extension."""
    return Path(file_name).stem
