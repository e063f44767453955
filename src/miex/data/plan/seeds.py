"""Order-free seeds: every random choice of the plan is keyed by (seed, purpose, name), never by row position,
so the plan does not depend on input row order, on the subset asked for, or on how it is later split."""

from __future__ import annotations

import hashlib

import numpy as np

SEED_BITS = 63


def stable_int(seed: int, *parts: object) -> int:
    """A 63-bit integer from blake2b over the seed and ``parts`` (stable across processes and Python versions)."""
    text = "\x1f".join([str(int(seed)), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") >> (64 - SEED_BITS)


def keyed_rng(seed: int, *parts: object) -> np.random.Generator:
    return np.random.default_rng(stable_int(seed, *parts))
