"""The three AU sources of MiE-X (docs/reference.md §AU sources): real MiEs, early macro-expressions, expert
knowledge."""

from miex.data.sources.expert import (
    CLASS_EMOTIONS,
    MACRO_INTENSITY,
    MICRO_INTENSITY,
    ExpertConfig,
    expert_triplets,
    linear_ramp,
    load_expert_table,
)
from miex.data.sources.frames import resample
from miex.data.sources.mae import DEFAULT_INTERVAL, apex_index, mae_triplets
from miex.data.sources.mie import mie_triplets
from miex.data.sources.pool import PoolConfig, PoolResult, build_pool, pool_counts
from miex.data.sources.triplet import (
    POOL_COLUMNS,
    SOURCES,
    VIDEO_FRAMES,
    Triplet,
    read_params,
    read_pool,
    triplets_to_frame,
    write_pool,
)

__all__ = [
    "CLASS_EMOTIONS",
    "DEFAULT_INTERVAL",
    "MACRO_INTENSITY",
    "MICRO_INTENSITY",
    "POOL_COLUMNS",
    "SOURCES",
    "VIDEO_FRAMES",
    "ExpertConfig",
    "PoolConfig",
    "PoolResult",
    "Triplet",
    "apex_index",
    "build_pool",
    "expert_triplets",
    "linear_ramp",
    "load_expert_table",
    "mae_triplets",
    "mie_triplets",
    "pool_counts",
    "read_params",
    "read_pool",
    "resample",
    "triplets_to_frame",
    "write_pool",
]
