"""Plan rows -> dataset rows: animate faces in batches on the device, encode frames in a thread pool.

Encoding of batch *k* runs in worker threads (Pillow's PNG/JPEG encoders release the GIL) while the generator works
on batch *k + 1*, so the device does not wait on the CPU. Batches are cut within a shard in plan order, so every
frame is computed from the same batch whatever the number of processes.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from PIL import Image

from miex.core.errors import MiexInputError
from miex.core.tally import Tally
from miex.data.generators.base import FaceGenerator
from miex.data.generators.grid import to_uint8
from miex.data.generators.nuisance import Nuisance, apply_nuisance_sequence, nuisance_preset
from miex.data.plan.seeds import keyed_rng
from miex.data.synthesis.faces import FaceBank
from miex.data.synthesis.schema import TEXT_COLUMNS

IMAGE_FORMATS = ("png", "jpeg")


@dataclass(frozen=True)
class Encoding:
    """How frames are stored: lossless PNG by default (micro-movements must survive), JPEG as an option."""

    format: str = "png"
    jpeg_quality: int = 95
    png_compress_level: int = 1
    """zlib level of PNG frames: lossless at any level; at 128 px, level 1 encodes in 1.2 ms and level 6 in 3.3 ms
    for 5 % smaller files, and encoding shares the CPU with the generator (benchmarks/bench_synthesis.py)."""

    def __post_init__(self) -> None:
        if self.format not in IMAGE_FORMATS:
            raise MiexInputError(f"unknown image format {self.format!r} (choose png or jpeg)", field="image_format")
        if not 1 <= self.jpeg_quality <= 100:
            raise MiexInputError(f"JPEG quality must be 1..100, got {self.jpeg_quality}", field="jpeg_quality")
        if not 0 <= self.png_compress_level <= 9:
            reason = f"PNG compression level must be 0..9, got {self.png_compress_level}"
            raise MiexInputError(reason, field="png_compress_level")

    def encode(self, frame: np.ndarray) -> dict[str, Any]:
        """H x W x 3 uint8 -> the ``datasets.Image`` storage dict (same pixels -> same bytes)."""
        if self.format == "png":  # one C call that releases the GIL: the generator keeps its thread busy meanwhile
            bgr = np.ascontiguousarray(frame[..., ::-1])
            ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, self.png_compress_level])
            if not ok:
                raise MiexInputError("PNG encoding failed", field="frame")
            return {"bytes": data.tobytes(), "path": None}
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=self.jpeg_quality, subsampling=0)
        return {"bytes": buffer.getvalue(), "path": None}


@dataclass
class Timings(Tally):
    """Seconds spent per stage, summed over batches (the benchmark reports the shares)."""

    generate: float = 0.0
    encode: float = 0.0
    write: float = 0.0
    frames: int = 0
    samples: int = 0


def default_encode_workers() -> int:
    """Encoder threads for this machine: one core stays with the generator (on 2 cores, 1 encoder gives 480-560
    frames/s end to end with the warp, 2 encoders 340-450: they only contend for the GIL)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


SWITCH_INTERVAL = 0.0005
"""Seconds between forced GIL hand-overs while rendering (Python's default is 0.005)."""


class Renderer:
    """Turns plan rows into MiE-X rows with one generator on one device."""

    def __init__(
        self,
        generator: FaceGenerator,
        faces: FaceBank,
        *,
        batch_size: int = 32,
        device: str | torch.device = "cpu",
        encoding: Encoding | None = None,
        encode_workers: int | None = None,
        nuisance: Nuisance | str = "off",
    ) -> None:
        if batch_size < 1:
            raise MiexInputError(f"batch size must be >= 1, got {batch_size}", field="batch_size")
        self.generator = generator
        self.faces = faces
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.encoding = encoding or Encoding()
        self.nuisance = nuisance_preset(nuisance)
        self.generator_json = json.dumps(generator.config, sort_keys=True, separators=(",", ":"))
        encode_workers = default_encode_workers() if encode_workers is None else max(1, encode_workers)
        self.pool = ThreadPoolExecutor(max_workers=encode_workers, thread_name_prefix="miex-encode")
        self.timings = Timings()
        # The encoder threads release the GIL inside zlib/libjpeg but take it back between chunks; with Python's
        # default 5 ms switch interval a Python-heavy generator then waits for the GIL most of the time (measured:
        # the warp ran at 0.28 of its solo speed beside two busy encoders, 0.70 at 0.5 ms). Restored on close.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL))
        # On CPU the encoders need cores of their own: intra-op threads beyond the rest only spin against them
        # (measured on 2 cores: 211 frames/s end to end with 2 torch threads, 323 with 1). Restored on close.
        self._torch_threads = torch.get_num_threads()
        if self.device.type == "cpu":
            spare = max(1, (os.cpu_count() or 1) - encode_workers)
            torch.set_num_threads(min(self._torch_threads, spare))

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        sys.setswitchinterval(self._switch_interval)
        torch.set_num_threads(self._torch_threads)

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self, plan: pd.DataFrame) -> Iterator[dict[str, Any]]:
        """Dataset rows for ``plan`` in plan order; encoding of a batch overlaps generation of the next."""
        pending: list[tuple[pd.DataFrame, list[Future[list[dict[str, Any]]]]]] = []
        for start in range(0, len(plan), self.batch_size):
            batch = plan.iloc[start : start + self.batch_size]
            frames = self.animate(batch)
            pending.append((batch, [self.pool.submit(self._encode_many, chunk) for chunk in frames]))
            if len(pending) > 1:
                yield from self._collect(*pending.pop(0))
        for item in pending:
            yield from self._collect(*item)

    def animate(self, batch: pd.DataFrame) -> list[np.ndarray]:
        """One generator call for every frame of the batch; returns per-sample arrays (frames x H x W x 3)."""
        began = time.perf_counter()
        images, landmarks = self.faces.batch(batch["face"].tolist())
        video = "frames_au" in batch.columns
        if video:
            targets = np.stack([np.asarray(v, np.float32) for v in batch["frames_au"]])  # N x T x 17
        else:
            targets = np.stack(
                [
                    np.stack([np.asarray(a, np.float32), np.asarray(b, np.float32)])
                    for a, b in zip(batch["onset_au"], batch["apex_au"], strict=True)
                ]
            )
        count, steps = targets.shape[:2]
        # frame-major order: all onsets, then all apexes (or frame t of every sample), one batched call
        faces = torch.from_numpy(images).permute(0, 3, 1, 2).to(self.device).repeat(steps, 1, 1, 1)
        kwargs: dict[str, Any] = {}
        if self.generator.needs_landmarks:
            if landmarks is None:
                raise MiexInputError("the generator needs landmarks but a face has none", field="landmarks")
            kwargs["landmarks"] = torch.from_numpy(landmarks).to(self.device).repeat(steps, 1, 1)
        aus = torch.from_numpy(np.ascontiguousarray(targets.transpose(1, 0, 2).reshape(-1, targets.shape[-1])))
        output = self.generator(faces, aus.to(self.device), **kwargs)
        frames = to_uint8(output).reshape(steps, count, *output.shape[2:], output.shape[1])
        samples = [np.ascontiguousarray(frames[:, i]) for i in range(count)]
        if self.nuisance.active:  # per sample, from the sample's own seed: the bytes do not depend on the batching
            samples = [
                np.stack(apply_nuisance_sequence(list(sample), self.nuisance, keyed_rng(int(seed), "nuisance")))
                for sample, seed in zip(samples, batch["seed"], strict=True)
            ]
        self.timings.generate += time.perf_counter() - began
        self.timings.frames += count * steps
        return samples

    def _encode_many(self, frames: np.ndarray) -> list[dict[str, Any]]:
        return [self.encoding.encode(frame) for frame in frames]

    def _collect(self, batch: pd.DataFrame, futures: list[Future[list[dict[str, Any]]]]) -> Iterator[dict[str, Any]]:
        began = time.perf_counter()
        encoded = [future.result() for future in futures]
        self.timings.encode += time.perf_counter() - began  # time the pipeline WAITED on encoding
        video = "frames_au" in batch.columns
        for record, images in zip(batch.to_dict("records"), encoded, strict=True):
            self.timings.samples += 1
            yield dataset_row(record, images, self.generator_json, video=video)


def dataset_row(record: dict[str, Any], images: list[dict[str, Any]], generator: str, *, video: bool) -> dict[str, Any]:
    """One MiE-X row from a plan row, its encoded frames and the generator's JSON config."""
    frames = {"frames": images} if video else {"onset": images[0], "apex": images[1]}
    aus = {name: np.asarray(record[name], np.float32).tolist() for name in ("onset_au", "apex_au")}
    if video:
        aus["frames_au"] = np.asarray(record["frames_au"], np.float32).tolist()
    text = {name: str(record[name]) for name in TEXT_COLUMNS if name not in ("generator",)}
    return {
        **frames,
        "label": int(record["label"]),
        "source": record["source"],
        **aus,
        **text,
        "generator": generator,
        "seed": int(record["seed"]),
    }
