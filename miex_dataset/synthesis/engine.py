"""The distributed synthesis engine: plan -> fixed shards -> ranks -> atomic parquet files -> a loadable folder.

``miex synthesize`` and ``accelerate launch builder.py`` (or ``torchrun``) run this same function. Every rank reads
the plan and checks the faces identically, takes shards ``rank, rank + world, ...``, skips the shards whose receipt
verifies, and renders the rest; the main process then writes the dataset card. Output bytes depend only on the plan,
the generator and the encoding: not on the number of processes, and not on whether the run was resumed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from accelerate import PartialState
from tqdm.auto import tqdm

from ..corpora.report import ValidationReport
from ..errors import MiexInputError
from ..faces.runner import read_json, write_json_atomic
from ..generators.base import FaceGenerator
from ..plan.build import plan_fields
from ..sources.triplet import to_arrow, write_parquet
from .faces import check_faces
from .render import Encoding, Renderer, Timings, default_encode_workers
from .schema import miex_features
from .shards import DATA_DIR, STATE_DIR, Shard, is_finished, plan_shards, write_shard

log = logging.getLogger(__name__)

DEFAULT_OUT = "miex"
PLAN_NAME = "plan.parquet"
RUN_NAME = "run.json"


@dataclass(frozen=True)
class EngineConfig:
    """How a plan is rendered and stored; everything here that changes bytes is part of the run fingerprint."""

    shard_size: int = 1000
    batch_size: int = 32
    size: int = 128
    """Square face size fed to the generator (GANimation needs its training size, 128)."""
    encoding: Encoding = field(default_factory=Encoding)
    encode_workers: int = field(default_factory=default_encode_workers)
    """Threads encoding frames beside the generator (default: the cores left over, at most 4)."""
    device: str | None = None
    """torch device; default CUDA (this rank's GPU) when available, else CPU."""
    strict: bool = False
    """Unusable faces are an error instead of a reported skip."""
    overwrite: bool = False
    """Replace an output folder that holds a different run (default: refuse, so nothing is lost)."""


@dataclass
class SynthesisSummary:
    out: Path
    samples: int
    shards: int
    written: list[str]
    kept: list[str]
    seconds: float
    timings: Timings
    report: ValidationReport
    fingerprint: str

    def render(self) -> str:
        rate = self.timings.samples / self.seconds if self.seconds else 0.0
        frames = self.timings.frames / self.seconds if self.seconds else 0.0
        return (f"{self.samples} samples in {self.shards} shard(s) at {self.out}: {len(self.written)} rendered, "
                f"{len(self.kept)} kept from an earlier run; {self.seconds:.1f} s this process "
                f"({rate:.1f} samples/s, {frames:.1f} frames/s)")  # fmt: skip


def is_video(plan: pd.DataFrame) -> bool:
    return "frames_au" in plan.columns


def plan_digest(plan: pd.DataFrame) -> str:
    """A content digest of the plan rows (row order included): the identity of what will be rendered."""
    digest = hashlib.sha256()
    for record in plan.to_dict("records"):
        record = {key: (value.tolist() if hasattr(value, "tolist") else value) for key, value in record.items()}
        digest.update(json.dumps(record, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def run_fingerprint(plan: pd.DataFrame, generator: FaceGenerator, config: EngineConfig) -> str:
    stored = {"plan": plan_digest(plan), "generator": generator.config, "shard_size": config.shard_size,
              "size": config.size, "encoding": asdict(config.encoding), "video": is_video(plan),
              "batch_size": config.batch_size}  # fmt: skip
    return hashlib.sha256(json.dumps(stored, sort_keys=True, default=str).encode()).hexdigest()


def check_output(out: Path, fingerprint: str, overwrite: bool) -> bool:
    """Whether the main process must clear ``out``; raises (on every rank alike) when it holds another run."""
    run_file = out / STATE_DIR / RUN_NAME
    if not run_file.is_file():
        if (out / DATA_DIR).is_dir() and any((out / DATA_DIR).iterdir()) and not overwrite:
            raise MiexInputError("output folder already holds data not written by this run: choose another --out "
                                 "or pass --overwrite", file=out)  # fmt: skip
        return (out / DATA_DIR).is_dir()
    if read_json(run_file).get("fingerprint") == fingerprint:
        return False
    if not overwrite:
        raise MiexInputError("output folder holds a different synthesis run (other plan, generator or encoding): "
                             "rerun with the same inputs to resume, choose another --out, or pass --overwrite",
                             file=run_file)  # fmt: skip
    return True


def synthesize(
    plan: pd.DataFrame,
    generator: FaceGenerator,
    out: str | PathLike[str] = DEFAULT_OUT,
    *,
    faces_dir: str | PathLike[str] | None = None,
    config: EngineConfig | None = None,
    plan_params: dict[str, Any] | None = None,
    card_context: dict[str, Any] | None = None,
    state: PartialState | None = None,
) -> SynthesisSummary:
    """Render ``plan`` with ``generator`` into ``out`` (parquet shards + card); resumable and rank-parallel.

    Launch with ``torchrun``/``accelerate launch`` for several processes: each takes every world-size-th shard."""
    config = config or EngineConfig()
    state = state or PartialState(cpu=not torch.cuda.is_available())
    began = time.perf_counter()
    out = Path(out)
    report = ValidationReport(strict=config.strict)
    video = is_video(plan)
    if not video and "onset_au" not in plan.columns:
        raise MiexInputError("not a synthesis plan: no onset_au/apex_au columns (make one with `miex plan`)")
    plan, faces = check_faces(plan, size=config.size, needs_landmarks=generator.needs_landmarks,
                              faces_dir=faces_dir, report=report)  # fmt: skip
    fingerprint = run_fingerprint(plan, generator, config)
    shards = plan_shards(len(plan), config.shard_size)
    clear = check_output(out, fingerprint, config.overwrite)
    if state.is_main_process:
        if clear:
            for stale in (out / DATA_DIR, out / STATE_DIR):
                shutil.rmtree(stale, ignore_errors=True)
        _write_run_state(out, plan, generator, config, fingerprint, len(shards), plan_params or {})
    state.wait_for_everyone()

    features = miex_features(video=video)
    device = torch.device(config.device) if config.device else state.device
    mine = shards[state.process_index :: state.num_processes]
    todo = [shard for shard in mine if not is_finished(shard, out, fingerprint)]
    kept = [shard.name for shard in mine if shard not in todo]
    bar = tqdm(total=sum(s.stop - s.start for s in todo), unit="sample", desc="synthesize",
               disable=not state.is_local_main_process or not todo, dynamic_ncols=True)  # fmt: skip
    written = []
    with Renderer(generator, faces, batch_size=config.batch_size, device=device, encoding=config.encoding,
                  encode_workers=config.encode_workers) as renderer:  # fmt: skip
        for shard in todo:
            written.append(_render_shard(shard, plan, renderer, features, out, fingerprint, bar))
    bar.close()
    state.wait_for_everyone()
    if state.is_main_process:
        from .card import finish_dataset

        finish_dataset(out, features, video=video, context=card_context or {})
    state.wait_for_everyone()
    return SynthesisSummary(out, len(plan), len(shards), written, kept, time.perf_counter() - began,
                            renderer.timings, report, fingerprint)  # fmt: skip


def _render_shard(
    shard: Shard, plan: pd.DataFrame, renderer: Renderer, features: Any, out: Path, fingerprint: str, bar: tqdm
) -> str:
    rows = []
    for row in renderer.rows(plan.iloc[shard.start : shard.stop]):
        rows.append(row)
        bar.update()
    began = time.perf_counter()
    write_shard(shard, out, rows, features, fingerprint)
    renderer.timings.write += time.perf_counter() - began
    return shard.name


def _write_run_state(
    out: Path,
    plan: pd.DataFrame,
    generator: FaceGenerator,
    config: EngineConfig,
    fingerprint: str,
    shards: int,
    plan_params: dict[str, Any],
) -> None:
    """The plan actually rendered (after face checks) and the run settings, for the card and for resuming."""
    video = is_video(plan)
    table = to_arrow(plan[[f.name for f in plan_fields(video)]], plan_fields(video), plan_params)
    write_parquet(table, out / PLAN_NAME)
    settings = {"fingerprint": fingerprint, "shards": shards, "samples": len(plan), "generator": generator.config,
                "engine": {**asdict(config), "encoding": asdict(config.encoding)}, "plan_params": plan_params}
    write_json_atomic(out / STATE_DIR / RUN_NAME, settings)
