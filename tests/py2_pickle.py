"""Write pickles byte for byte as Python 2 + numpy did, so the latin1 path is tested against the real format."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

import numpy as np


def _py2_str(value: bytes) -> bytes:
    """SHORT_BINSTRING / BINSTRING: a Python 2 ``str``, which Python 3 must decode with an encoding."""
    if len(value) < 256:
        return b"U" + bytes([len(value)]) + value
    return b"T" + struct.pack("<i", len(value)) + value


def _py2_ndarray(values: Sequence[float]) -> bytes:
    """``numpy.core.multiarray._reconstruct`` + BUILD state, as numpy 1.x on Python 2 pickled a float64 array."""
    raw = np.asarray(values, dtype="<f8").tobytes()
    header = b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\nK\x00\x85" + _py2_str(b"b") + b"tR"
    dtype = b"cnumpy\ndtype\n(" + _py2_str(b"f8") + b"K\x00K\x01tR"
    dtype += b"(K\x03" + _py2_str(b"<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    state = b"(K\x01K" + bytes([len(values)]) + b"\x85" + dtype + b"\x89" + _py2_str(raw) + b"tb"
    return header + state


def python2_au_pickle(aus: Mapping[str, Sequence[float]]) -> bytes:
    """The bytes of GANimation's ``aus_openface.pkl`` as written by its Python 2 tooling (protocol 2)."""
    body = b"".join(_py2_str(key.encode("latin1")) + _py2_ndarray(values) for key, values in aus.items())
    return b"\x80\x02}(" + body + b"u."
