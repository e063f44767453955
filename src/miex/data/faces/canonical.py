"""MediaPipe's canonical face: the population-neutral mesh (vertices and triangles) the landmarker bundle carries.

``face_landmarker.task`` holds ``geometry_pipeline_metadata_landmarks.binarypb``: a protobuf whose ``canonical_mesh``
lists 468 vertices (x, y, z, u, v; centimetres, y up, z towards the camera) of a neutral average face. It is read
here with a ten-line wire-format decoder (no protobuf classes ship for it) and returned in landmark convention
(x right, y down, z away from the camera), so it can stand in for a neutral frame when a clip has none.
Reference: docs/reference.md §Canonical face.
"""

from __future__ import annotations

import struct
import zipfile
from functools import lru_cache
from os import PathLike

import numpy as np

from miex.core.errors import MiexInputError
from miex.data.faces.bundle import resolve_bundle
from miex.data.faces.mesh import LOWER_INNER_LIP, UPPER_INNER_LIP

METADATA_NAME = "geometry_pipeline_metadata_landmarks.binarypb"
CANONICAL_VERTICES = 468


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, offset


def _fields(data: bytes):  # yields (field number, wire type, payload)
    offset = 0
    while offset < len(data):
        key, offset = _varint(data, offset)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, offset = _varint(data, offset)
        elif wire == 2:
            length, offset = _varint(data, offset)
            value, offset = data[offset : offset + length], offset + length
        elif wire == 5:
            value, offset = data[offset : offset + 4], offset + 4
        elif wire == 1:
            value, offset = data[offset : offset + 8], offset + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def parse_canonical_mesh(metadata: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(468, 3) vertices and (898, 3) triangles from the serialized GeometryPipelineMetadata: field 1 = Mesh3d,
    whose field 3 holds the vertices (x, y, z, u, v floats) and field 4 the triangle index buffer."""
    floats: list[float] = []
    indices: list[int] = []
    for number, wire, value in _fields(metadata):
        if number != 1 or wire != 2:
            continue
        for inner, inner_wire, payload in _fields(value):
            if inner == 3 and inner_wire == 5:
                floats.append(struct.unpack("<f", payload)[0])
            elif inner == 3 and inner_wire == 2:  # packed encoding
                floats.extend(np.frombuffer(payload, "<f4").tolist())
            elif inner == 4 and inner_wire == 0:
                indices.append(payload)
            elif inner == 4 and inner_wire == 2:
                offset = 0
                while offset < len(payload):
                    index, offset = _varint(payload, offset)
                    indices.append(index)
    vertices = np.asarray(floats, dtype=np.float64)
    if vertices.size != CANONICAL_VERTICES * 5:
        raise ValueError(f"canonical mesh has {vertices.size} floats, expected {CANONICAL_VERTICES} x 5")
    triangles = np.asarray(indices, dtype=np.int64)
    if triangles.size == 0 or triangles.size % 3 or triangles.max() >= CANONICAL_VERTICES:
        raise ValueError(f"canonical mesh index buffer has {triangles.size} entries, not triangles of its vertices")
    return vertices.reshape(CANONICAL_VERTICES, 5)[:, :3], triangles.reshape(-1, 3)


@lru_cache(maxsize=4)
def _read_mesh(model_path: str | PathLike[str] | None) -> tuple[np.ndarray, np.ndarray]:
    bundle = resolve_bundle(model_path)
    try:
        with zipfile.ZipFile(bundle) as archive:
            return parse_canonical_mesh(archive.read(METADATA_NAME))
    except (KeyError, ValueError, zipfile.BadZipFile) as error:
        raise MiexInputError(f"the landmarker bundle has no readable canonical mesh ({error})", file=bundle) from error


def canonical_triangles(model_path: str | PathLike[str] | None = None) -> np.ndarray:
    """The canonical mesh's (898, 3) triangles over the 468 face landmarks (the face oval is its only boundary)."""
    triangles = _read_mesh(model_path)[1].copy()
    triangles.setflags(write=False)
    return triangles


@lru_cache(maxsize=4)
def canonical_face(model_path: str | PathLike[str] | None = None) -> np.ndarray:
    """The neutral face (468, 3) in landmark convention, lips closed.

    The canonical mesh has its inner lips 0.55 cm apart; a resting mouth is closed, so the lower inner lip is moved
    onto the upper one (the only edit; documented in docs/reference.md §Canonical face)."""
    face = _read_mesh(model_path)[0] * np.array([1.0, -1.0, -1.0])
    upper, lower = list(UPPER_INNER_LIP[1:-1]), list(LOWER_INNER_LIP[1:-1])
    face[lower, 1] = face[upper, 1]
    face.setflags(write=False)
    return face
