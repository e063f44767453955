"""The distributed synthesis engine: plan -> fixed shards -> ranks -> atomic parquet files -> a loadable folder.

``miex synthesize`` and ``accelerate launch builder.py`` (or ``torchrun``) run this same function. Every rank reads
the plan and checks the faces identically, takes shards ``rank, rank + world, ...``, skips the shards whose receipt
verifies, and renders the rest; the main process then writes the dataset card. Output bytes depend only on the plan,
the generator and the encoding: not on the number of processes, and not on whether the run was resumed.

Resume is keyed on content. The run's identity is its plan rows and the options that change bytes: a folder holding
another one is refused, naming what changed, until ``--overwrite`` renders everything again. Each shard's receipt
carries a content key of its own (:func:`shard_key`: the run, the generator's config and weights, the pixels and
landmarks of the faces its rows use), so a re-cropped face or a retrained checkpoint makes exactly the shards that
used them render again, and old and new renders never mix. A non-empty folder miex did not make is refused too, and
the main process holds :class:`~miex.core.fileio.OutputLock` on the folder for the whole run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from accelerate import PartialState
from tqdm.auto import tqdm

from miex.core.errors import MiexInputError
from miex.core.fileio import DATASET_KIND, LOCK_NAME, MARKER_NAME, OutputLock, mark_output, read_json, write_json_atomic
from miex.core.fileio import guard_output_folder as guard_folder
from miex.core.progress import PROGRESS_DELAY_S
from miex.core.report import ValidationReport
from miex.data.generators.base import FaceGenerator
from miex.data.generators.nuisance import nuisance_preset
from miex.data.layout import CARD_IMAGES, CARD_NAME, DATA_DIR, IMAGES_DIR, PLAN_NAME, STATE_DIR
from miex.data.plan.build import plan_fields
from miex.data.plan.faces import portable_faces, published_faces
from miex.data.sources.triplet import to_arrow, write_parquet
from miex.data.synthesis.config import DEFAULT_OUT, SynthesisConfig, default_of
from miex.data.synthesis.faces import FaceBank, check_faces, face_key
from miex.data.synthesis.render import Encoding, Renderer, Timings, default_encode_workers
from miex.data.synthesis.schema import miex_features
from miex.data.synthesis.shards import STAGING_DIR, Shard, is_finished, plan_shards, write_shard

log = logging.getLogger(__name__)

RUN_NAME = "run.json"


@dataclass(frozen=True)
class EngineConfig:
    """How a plan is rendered and stored; everything here that changes bytes is part of the run fingerprint.

    Defaults are :class:`~.config.SynthesisConfig`'s (:meth:`from_config` makes one from a job)."""

    shard_size: int = default_of(SynthesisConfig, "shard_size")
    batch_size: int = default_of(SynthesisConfig, "batch_size")
    size: int = default_of(SynthesisConfig, "size")
    """Square face size fed to the generator (GANimation needs its training size, 128)."""
    encoding: Encoding = field(default_factory=Encoding)
    encode_workers: int = field(default_factory=default_encode_workers)
    """Threads encoding frames beside the generator (default: the cores left over, at most 4)."""
    device: str | None = default_of(SynthesisConfig, "device")
    """torch device; default CUDA (this rank's GPU) when available, else CPU."""
    strict: bool = default_of(SynthesisConfig, "strict")
    """Unusable faces are an error instead of a reported skip."""
    overwrite: bool = False
    """Replace an output folder that holds a different run (default: refuse, so nothing is lost)."""
    nuisance: str = default_of(SynthesisConfig, "nuisance")
    """Preset of recording nuisance applied to every rendered pair (``off``: frames as the generator made them)."""

    def __post_init__(self) -> None:
        """Refuse impossible settings before any input is read or any file is written."""
        for name, option in (("shard_size", "--shard-size"), ("batch_size", "--batch-size"), ("size", "--size")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MiexInputError(f"{option} must be a whole number of at least 1, got {value!r}", field=name)
        if self.encode_workers < 1:
            raise MiexInputError(
                f"--encode-workers must be at least 1, got {self.encode_workers}", field="encode_workers"
            )
        nuisance_preset(self.nuisance)  # an unknown preset is refused here, naming the known ones

    @classmethod
    def from_config(cls, config: SynthesisConfig, *, overwrite: bool = False) -> EngineConfig:
        """How ``config``'s plan is rendered and stored: its rendering options (call it when the job runs)."""
        workers = {} if config.encode_workers is None else {"encode_workers": config.encode_workers}
        return cls(
            shard_size=config.shard_size,
            batch_size=config.batch_size,
            size=config.size,
            encoding=Encoding(config.image_format, config.jpeg_quality),
            device=config.device,
            strict=config.strict,
            overwrite=overwrite,
            nuisance=config.nuisance,
            **workers,
        )


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
    pushed: str | None = None
    """The Hub repo URL, when the job pushed the folder (main process only)."""

    def render(self) -> str:
        rate = self.timings.samples / self.seconds if self.seconds else 0.0
        frames = self.timings.frames / self.seconds if self.seconds else 0.0
        return (
            f"{self.samples} samples in {self.shards} shard(s) at {self.out}: {len(self.written)} rendered, "
            f"{len(self.kept)} kept from an earlier run; {self.seconds:.1f} s this process "
            f"({rate:.1f} samples/s, {frames:.1f} frames/s)"
        )


def is_video(plan: pd.DataFrame) -> bool:
    return "frames_au" in plan.columns


def plan_digest(plan: pd.DataFrame) -> str:
    """A content digest of the plan rows (row order included): the identity of what will be rendered. Face paths
    count relative to the folder holding them all, so moving pool, plan and output together still resumes."""
    digest = hashlib.sha256()
    for record in plan.assign(face=portable_faces(plan["face"])).to_dict("records"):
        record = {key: (value.tolist() if hasattr(value, "tolist") else value) for key, value in record.items()}
        digest.update(json.dumps(record, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _json_digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def weights_digest(generator: FaceGenerator) -> str | None:
    """sha256 of the weights the generator runs with (names, dtypes, shapes and bytes of its ``state_dict``), or
    None for a generator without a network (the warp: its config carries its motion model's content digest).

    The loaded tensors, not the checkpoint path: a retrained checkpoint at the same path changes this digest, while
    the same weights as .pth or save_pretrained folder do not."""
    network = getattr(generator, "network", None)
    if not isinstance(network, torch.nn.Module):
        return None
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{data.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


RUN_PARTS: dict[str, str] = {
    "plan": "the plan rows",
    "faces": "the face pixels or landmarks",
    "generator": "the generator settings",
    "weights": "the generator weights",
    "options": "the rendering options (shard size, face size, image format, batch size, device type, nuisance)",
}
"""What the run fingerprint covers, each part as a digest, and how a change of it is named to the user."""


def run_parts(
    plan: pd.DataFrame, faces: FaceBank, generator: FaceGenerator, config: EngineConfig, device: torch.device
) -> dict[str, str | None]:
    """Digests of everything that changes the output bytes: plan rows, face pixels and landmarks, generator config
    and weights, and the options that reach the encoder (the generator's own device type: CPU and CUDA kernels
    round differently)."""
    device_type = torch.device(getattr(generator, "device", device)).type
    options = {
        "shard_size": config.shard_size,
        "size": config.size,
        "encoding": asdict(config.encoding),
        "video": is_video(plan),
        "batch_size": config.batch_size,
        "device": device_type,
    }
    nuisance = nuisance_preset(config.nuisance)
    if nuisance.active:  # its magnitudes, not its name; absent when off, so runs made before it keep their identity
        options["nuisance"] = nuisance.to_json()
    return {
        "plan": plan_digest(plan),
        "faces": faces.content_digest(),
        "generator": _json_digest(generator.config),
        "weights": weights_digest(generator),
        "options": _json_digest(options),
    }


IDENTITY_PARTS = ("plan", "options")
"""What makes a folder hold *this* dataset: another plan or other rendering options is another dataset, refused
without --overwrite. The other parts (faces, generator, weights) key each shard's content instead: a shard whose
inputs changed is rendered again, the others are kept."""


def run_fingerprint(parts: dict[str, str | None]) -> str:
    """The identity of a run (its plan and options): a folder holding another one is refused."""
    return _json_digest({name: parts[name] for name in IDENTITY_PARTS})


def shard_key(shard: Shard, plan: pd.DataFrame, faces: FaceBank, parts: dict[str, str | None]) -> str:
    """The content key of one shard: the run, the generator settings and weights, and the pixels and landmarks of
    the faces its rows use. A shard is reused only when its receipt carries this key."""
    used = sorted({face_key(face) for face in plan["face"].iloc[shard.start : shard.stop]})
    return _json_digest(
        {
            "run": run_fingerprint(parts),
            "generator": parts["generator"],
            "weights": parts["weights"],
            "faces": [faces.digests.get(key) for key in used],
        }
    )


DATASET_WRITES = (
    DATA_DIR,
    CARD_NAME,
    PLAN_NAME,
    IMAGES_DIR,
    *(f"{IMAGES_DIR}/{name}" for name in CARD_IMAGES),
    f"{STATE_DIR}/{RUN_NAME}",
    f"{STATE_DIR}/shards",
    f"{STATE_DIR}/{STAGING_DIR}",
)
"""What synthesis and import-legacy write or delete inside a dataset folder (relative paths): none may be a link."""


def guard_output_folder(out: Path, overwrite: bool, inputs: Iterable[str | PathLike[str] | None] = ()) -> None:
    """Refuse an ``--out`` that is a file, overlaps one of ``inputs``, or holds links where a dataset is written;
    and, unless ``overwrite``, a non-empty folder whose marker does not say it is a MiE-X dataset."""
    guard_folder(
        out,
        overwrite,
        kind=DATASET_KIND,
        command="miex synthesize",
        writes=DATASET_WRITES,
        trees=(STATE_DIR, DATA_DIR, IMAGES_DIR),
        inputs=inputs,
        replaced="its README.md, plan.parquet, images/ and data/",
    )


def claim_output(
    out: Path,
    fingerprint: str,
    overwrite: bool,
    parts: dict[str, str | None] | None = None,
    command: str = "miex synthesize",
) -> None:
    """Under the lock: check the folder again, clear another run's shards when allowed, and mark it a dataset."""
    if check_output(out, fingerprint, overwrite, parts):
        clear_run(out)
    mark_output(out, DATASET_KIND, command)


def check_output(out: Path, fingerprint: str, overwrite: bool, parts: dict[str, str | None] | None = None) -> bool:
    """Whether ``out`` must be cleared before writing; raises when it holds another run (naming, when ``parts`` is
    given, what changed) or is not a miex folder, unless ``overwrite``."""
    guard_output_folder(out, overwrite)
    run_file = out / STATE_DIR / RUN_NAME
    if not run_file.is_file():
        if (out / DATA_DIR).is_dir() and any((out / DATA_DIR).iterdir()) and not overwrite:
            raise MiexInputError(
                "output folder already holds data not written by this run: choose another --out or pass --overwrite",
                file=out,
            )
        return (out / DATA_DIR).is_dir()
    try:
        stored = read_json(run_file)
    except (OSError, ValueError):
        stored = {}
    stored = stored if isinstance(stored, dict) else {}
    before = stored.get("parts") if isinstance(stored.get("parts"), dict) else None
    changed = [text for name, text in RUN_PARTS.items() if parts and before and before.get(name) != parts.get(name)]
    if stored.get("fingerprint") == fingerprint:
        if changed:
            log.warning(
                "since this folder's run began, %s changed: the shards made from them are rendered again",
                ", ".join(changed),
            )
        return False
    if not overwrite:
        what = ", ".join(changed) if changed else "other plan or encoding"
        raise MiexInputError(
            f"output folder holds a different synthesis run ({what} changed), so its shards cannot "
            "be reused: rerun with the same inputs to resume, choose another --out, or pass "
            "--overwrite to render everything again",
            file=run_file,
        )
    return True


def clear_run(out: Path) -> None:
    """Remove the shards and run state of an earlier run, keeping the lock file this run holds (links are refused
    first by :func:`guard_output_folder`; ``rmtree`` itself removes a link, never what it points to)."""
    if (out / DATA_DIR).is_dir():
        shutil.rmtree(out / DATA_DIR)
    state = out / STATE_DIR
    for entry in state.iterdir() if state.is_dir() and not state.is_symlink() else ():
        if entry.name in (LOCK_NAME, MARKER_NAME):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _shared_failure(state: PartialState, failure: BaseException | None) -> None:
    """Raise on every rank when the main process failed to claim the output folder (else the others would wait
    for it forever); the main process re-raises its own error."""
    message = None if failure is None else str(failure)
    if state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        message = broadcast_object_list([message], from_process=0)[0]
    if failure is not None:
        raise failure
    if message is not None:
        raise MiexInputError(f"the main process stopped: {message}")


def render_shards(
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
    if state.is_main_process:
        guard_output_folder(out, config.overwrite, [faces_dir])  # before any face is decoded: refusing is cheap
    plan, faces = check_faces(
        plan,
        size=config.size,
        needs_landmarks=generator.needs_landmarks,
        faces_dir=faces_dir,
        report=report,
        progress=state.is_local_main_process,
    )
    device = torch.device(config.device) if config.device else state.device
    parts = run_parts(plan, faces, generator, config, device)
    fingerprint = run_fingerprint(parts)
    shards = plan_shards(len(plan), config.shard_size)
    with contextlib.ExitStack() as held:
        failure: BaseException | None = None
        if state.is_main_process:
            try:  # the lock is held until the card is written: a second run (or an --overwrite) is refused
                held.enter_context(OutputLock(out))
                claim_output(out, fingerprint, config.overwrite, parts)
                shutil.rmtree(out / STATE_DIR / STAGING_DIR, ignore_errors=True)  # a killed run's half shards
                _write_run_state(
                    out, plan, generator, config, fingerprint, parts, len(shards), plan_params or {}, faces_dir
                )
            except Exception as error:  # shared with the other ranks, then re-raised
                failure = error
        _shared_failure(state, failure)
        state.wait_for_everyone()
        features = miex_features(video=video)
        mine = shards[state.process_index :: state.num_processes]
        verify = tqdm(
            mine,
            desc="verify shards",
            unit="shard",
            delay=PROGRESS_DELAY_S,
            dynamic_ncols=True,
            disable=not state.is_local_main_process,
        )
        keys = {shard.name: shard_key(shard, plan, faces, parts) for shard in mine}
        todo = [shard for shard in verify if not is_finished(shard, out, keys[shard.name])]
        kept = [shard.name for shard in mine if shard not in todo]
        written = []
        with (
            tqdm(
                total=sum(s.stop - s.start for s in todo),
                unit="sample",
                desc="synthesize",
                disable=not state.is_local_main_process or not todo,
                dynamic_ncols=True,
            ) as bar,
            Renderer(
                generator,
                faces,
                batch_size=config.batch_size,
                device=device,
                encoding=config.encoding,
                encode_workers=config.encode_workers,
                nuisance=config.nuisance,
            ) as renderer,
        ):
            for shard in todo:
                written.append(_render_shard(shard, plan, renderer, features, out, keys[shard.name], bar))
        state.wait_for_everyone()
        if state.is_main_process:
            from miex.data.synthesis.card import finish_dataset

            finish_dataset(out, features, video=video, context=card_context or {}, progress=state.is_local_main_process)
        state.wait_for_everyone()
    return SynthesisSummary(
        out, len(plan), len(shards), written, kept, time.perf_counter() - began, renderer.timings, report, fingerprint
    )


def _render_shard(
    shard: Shard, plan: pd.DataFrame, renderer: Renderer, features: Any, out: Path, key: str, bar: tqdm
) -> str:
    rows = []
    for row in renderer.rows(plan.iloc[shard.start : shard.stop]):
        rows.append(row)
        bar.update()
    began = time.perf_counter()
    write_shard(shard, out, rows, features, key)
    renderer.timings.write += time.perf_counter() - began
    return shard.name


def _write_run_state(
    out: Path,
    plan: pd.DataFrame,
    generator: FaceGenerator,
    config: EngineConfig,
    fingerprint: str,
    parts: dict[str, str | None],
    shards: int,
    plan_params: dict[str, Any],
    faces_dir: str | PathLike[str] | None,
) -> None:
    """The plan actually rendered (after face checks; faces named inside their pool, see
    :func:`~miex.data.plan.faces.published_faces`) and the run settings, for the card and for resuming."""
    video = is_video(plan)
    published = plan.assign(face=published_faces(plan["face"], faces_dir))
    table = to_arrow(published[[f.name for f in plan_fields(video)]], plan_fields(video), plan_params)
    write_parquet(table, out / PLAN_NAME)
    nuisance = {"preset": config.nuisance, **nuisance_preset(config.nuisance).to_json()}
    settings = {
        "fingerprint": fingerprint,
        "parts": parts,
        "shards": shards,
        "samples": len(plan),
        "generator": generator.config,
        "engine": {**asdict(config), "encoding": asdict(config.encoding), "nuisance": nuisance},
        "plan_params": plan_params,
    }
    write_json_atomic(out / STATE_DIR / RUN_NAME, settings)
