"""GANimation's sample-data format (docs/reference.md §Action units): ``imgs/``, ``train_ids.csv``/``test_ids.csv``,
``aus_openface.pkl``.

``aus_openface.pkl`` maps an image id (file name without extension) to a float array of 17 AU intensities on the
0 to 5 scale. The file released with GANimation was pickled by Python 2, which needs ``encoding="latin1"``.

A pickle can run any code while it loads, and this file comes from the user (or from a download), so it is read with
:class:`AUPickleUnpickler`, which resolves only the few numpy globals that rebuild a float array and refuses the rest.
A pickle can also share one object many times (a 2 KB file can describe a list that expands to gigabytes when it is
walked) or refer to itself, so the loaded object is measured before anything walks it (:func:`check_object_graph`):
nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_EXPANDED` values once shared references are counted
every time they are reached, or a cycle, is refused naming the file.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator, Mapping
from os import PathLike
from pathlib import Path
from typing import IO, Any

import numpy as np

from miex.core.errors import MiexInputError
from miex.data.aus.schema import NUM_AUS, validate_au_array

LATIN1_NAMES = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1"})
MAX_DEPTH = 8
"""Deepest nesting an AU pickle may have: {id: array} is 2 levels, {id: [numbers]} 3; 8 leaves room for wrappers."""
MAX_EXPANDED = 50_000_000
"""Most values an AU pickle may expand to, every shared reference counted each time it is reached: 17 AUs for each
of nearly 3 million images (EmotioNet, GANimation's training set, has about 200,000)."""


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for ``bytes`` (array data), limited to latin1."""
    if not isinstance(text, str) or str(encoding).lower() not in LATIN1_NAMES:
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r} (only latin1 rebuilds bytes)")
    return text.encode("latin1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The globals numpy 1.x/2.x pickles of a plain array name (Python 2 and 3, protocols 2 to 5), nothing else."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {("_codecs", "encode"): _latin1_encode}
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    return allowed


class AUPickleUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild only numpy arrays: any other global (``os.system``, ``builtins.eval``, a class
    with a malicious ``__reduce__``) is refused before it is imported, so loading the file cannot run code."""

    def __init__(self, handle: IO[bytes]) -> None:
        super().__init__(handle, encoding="latin1")
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: the AU pickle may hold only a dict of numpy arrays"
            ) from None


def check_object_graph(root: object, *, max_depth: int = MAX_DEPTH, max_expanded: int = MAX_EXPANDED) -> int:
    """Refuse (``ValueError``) an unpickled object that refers to itself, nests deeper than ``max_depth`` or expands
    to more than ``max_expanded`` values when walked; returns that expanded count.

    Iterative (a 100,000-level nesting cannot exhaust Python's stack) and linear in the number of distinct objects:
    each container's expanded size is computed once and reused wherever it is shared."""
    sizes: dict[int, int] = {}  # id -> expanded size of a finished container
    on_path: set[int] = set()
    keep: list[object] = []  # holds every measured object, so no id is reused while measuring
    stack: list[tuple[object, Iterator[object] | None, int]] = [(root, None, 0)]
    totals: list[int] = [0]
    while stack:
        node, children, total_index = stack[-1]
        if children is None:
            if not isinstance(node, dict | list | tuple | set | frozenset):
                stack.pop()
                totals[total_index] += int(node.size) if isinstance(node, np.ndarray) else 1
                continue
            if id(node) in on_path:
                raise ValueError(f"it refers to itself (a {type(node).__name__} that contains itself)")
            if id(node) in sizes:
                stack.pop()
                totals[total_index] += sizes[id(node)]
                continue
            if len(stack) > max_depth:
                raise ValueError(f"it nests deeper than {max_depth} levels")
            on_path.add(id(node))
            keep.append(node)
            items = (v for pair in node.items() for v in pair) if isinstance(node, dict) else iter(node)
            totals.append(0)
            stack[-1] = (node, items, len(totals) - 1)
            continue
        child = next(children, _DONE)
        if child is not _DONE:
            stack.append((child, None, total_index))
            continue
        stack.pop()
        on_path.discard(id(node))
        size = sizes[id(node)] = totals[total_index] + 1
        parent_total = stack[-1][2] if stack else 0
        totals[parent_total] += size
        if totals[parent_total] > max_expanded or size > max_expanded:
            raise ValueError(
                f"it expands to more than {max_expanded:,} values (shared references counted each time "
                "they are reached)"
            )
    return totals[0]


_DONE = object()


def read_ganimation_aus(path: str | PathLike[str]) -> dict[str, np.ndarray]:
    """Load ``aus_openface.pkl`` (Python 2 or 3 pickle) as ``{image id: float32 (17,) on the 0-5 scale}``.

    Read with :class:`AUPickleUnpickler` (no code runs); the result must be a dict of str ids to 17 finite numbers."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("AU pickle not found", file=path)
    with path.open("rb") as handle:
        try:
            data = AUPickleUnpickler(handle).load()
        except (
            pickle.UnpicklingError,
            EOFError,
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            KeyError,
            MemoryError,
        ) as error:
            raise MiexInputError(f"not a readable AU pickle ({error})", file=path) from error
    try:
        check_object_graph(data)
    except ValueError as error:
        raise MiexInputError(
            f"refused AU pickle: {error}; an AU pickle is a flat dict of image id -> 17 numbers", file=path
        ) from error
    if not isinstance(data, Mapping):
        raise MiexInputError(f"expected a dict of image id -> AU array, got {type(data).__name__}", file=path)
    result: dict[str, np.ndarray] = {}
    for key, value in data.items():
        image_id = key.decode("latin1") if isinstance(key, bytes) else key
        if not isinstance(image_id, str):
            raise MiexInputError(f"image ids must be strings, got {type(key).__name__} {key!r}", file=path)
        result[image_id] = _au_vector(value, path, image_id)
    return result


def _au_vector(value: object, path: Path, image_id: str) -> np.ndarray:
    """One entry as float32 (17,) on the 0-5 scale, or a MiexInputError naming the file and the id."""
    if not isinstance(value, np.ndarray | list | tuple):
        raise MiexInputError(
            f"expected an array of {NUM_AUS} AU intensities, got {type(value).__name__}", file=path, field=image_id
        )
    if not isinstance(value, np.ndarray) and any(not isinstance(v, int | float | np.number) for v in value):
        raise MiexInputError(
            f"expected {NUM_AUS} AU intensities as plain numbers, got a nested or mixed {type(value).__name__}",
            file=path,
            field=image_id,
        )
    array = np.asarray(value)
    if array.dtype.kind not in "fiu" or array.shape != (NUM_AUS,):
        raise MiexInputError(
            f"expected {NUM_AUS} AU intensities as numbers, got shape {array.shape} of {array.dtype}",
            file=path,
            field=image_id,
        )
    try:
        return validate_au_array(array, where=f"{path}: id {image_id!r}")
    except ValueError as error:
        raise MiexInputError(str(error).split(": ", 2)[-1], file=path, field=image_id) from error


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
