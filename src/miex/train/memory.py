"""Keep a long CPU training run's heap bounded: large tensors go back to the OS when freed.

glibc's allocator raises its mmap threshold each time a large block is freed (up to 32 MiB), after which the
activations of every step come from arenas that it never shrinks: a LOSO run's resident memory then ratchets up
to the largest step it ever took, per thread arena, and every DataLoader worker forked later copies those pages.
Fixing the threshold (``M_MMAP_THRESHOLD``) serves blocks above it straight from ``mmap`` and returns them on free;
capping the arenas (``M_ARENA_MAX``) stops torch's intra-op threads from each keeping one. Measured on the LOSO
benchmark (docs/reference.md §Training memory). On other C libraries these calls are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
LARGE_BLOCK_BYTES = 4 * 1024 * 1024
"""Blocks at least this large are mapped and unmapped per allocation (a batch-32 activation is tens of MiB)."""
ARENAS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only: musl and macOS lack them
    except (OSError, AttributeError):
        return None
    return libc


@functools.cache
def bound_heap(large_block_bytes: int = LARGE_BLOCK_BYTES, arenas: int = ARENAS) -> bool:
    """Set the allocator's fixed mmap threshold and arena cap once per process; False when not on glibc."""
    libc = _libc()
    if libc is None:
        return False
    done = bool(libc.mallopt(M_MMAP_THRESHOLD, large_block_bytes)) and bool(libc.mallopt(M_ARENA_MAX, arenas))
    log.debug("heap bounded (mmap threshold %d B, %d arenas): %s", large_block_bytes, arenas, done)
    return done


def release_free_heap() -> None:
    """Hand free heap pages back to the OS (between folds and before DataLoader workers fork)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
