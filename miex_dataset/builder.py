"""``MiEX``: the synthesis engine as a ``datasets.GeneratorBasedBuilder``.

``datasets`` (>= 4) no longer runs loading scripts, so ``load_dataset("miex")`` reads a folder written by
``miex synthesize`` (or the Hub repo it was pushed to). This class is the third way in: it renders the same rows
in-process, with the same parameters as the command line::

    from miex_dataset.builder import MiEX

    builder = MiEX(config_name="miex", faces="pool/", pool="pool.parquet")   # no arguments: embedded default
    builder.download_and_prepare()
    ds = builder.as_dataset(split="train")           # or builder.as_streaming_dataset(split="train")

Configs: ``miex`` (three sources, onset + apex), ``miex-video`` (10 frames), and ``miex-mie``, ``miex-mae``,
``miex-expert`` (one source each). Rows equal the CLI's shards row for row, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import datasets

from .corpora.report import ValidationReport
from .plan import PlanConfig
from .sources import SOURCES, PoolConfig
from .synthesis.engine import EngineConfig
from .synthesis.faces import check_faces
from .synthesis.inputs import SynthesisInputs, resolve_plan
from .synthesis.render import Encoding, Renderer
from .synthesis.schema import miex_features
from .synthesis.shards import plan_shards

CITATION = """@inproceedings{liu2022mie,
  title={How to Synthesize a Large-Scale and Trainable Micro-Expression Dataset?},
  author={Liu, Yuchi and Wang, Zhongdao and Gedeon, Tom and Zheng, Liang},
  booktitle={European Conference on Computer Vision (ECCV)}, year={2022}}"""


@dataclass
class MiEXConfig(datasets.BuilderConfig):
    """The ``miex synthesize`` options as builder parameters (None: the embedded default for inputs)."""

    video: bool = False
    sources: tuple[str, ...] | None = None
    plan: str | None = None
    faces: str | None = None
    pool: str | None = None
    mie: list[tuple[str, str]] = field(default_factory=list)
    mae: list[tuple[str, str]] = field(default_factory=list)
    expert: int = 0
    identities: int | None = None
    samples_per_identity: int | None = None
    triplets: int | None = None
    seed: int = 0
    generator: str = "warp"
    checkpoint: str | None = None
    warp_model: str | None = None
    engine: EngineConfig = field(default_factory=EngineConfig)

    def inputs(self) -> SynthesisInputs:
        has_sources = bool(self.mie or self.mae or self.expert)
        pool = PoolConfig(mie=self.mie, mae=self.mae, expert=self.expert, video=self.video, seed=self.seed)
        plan = PlanConfig(seed=self.seed, identities=self.identities, triplets=self.triplets,
                          samples_per_identity=self.samples_per_identity,
                          **({"sources": self.sources} if self.sources else {}))  # fmt: skip
        return SynthesisInputs(plan=self.plan, faces=self.faces, pool=self.pool,
                               pool_config=pool if has_sources else None, plan_config=plan,
                               sources_given=self.sources is not None, video=self.video)  # fmt: skip


def _config(name: str, description: str, **options: Any) -> MiEXConfig:
    return MiEXConfig(name=name, version=datasets.Version("1.0.0"), description=description, **options)


class MiEX(datasets.GeneratorBasedBuilder):
    """Synthetic micro-expressions (MiE-X): faces animated with AU triplets from real MiEs, early MaEs and rules."""

    BUILDER_CONFIG_CLASS = MiEXConfig
    BUILDER_CONFIGS: ClassVar[list[MiEXConfig]] = [
        _config("miex", "three AU sources, onset + apex frames (the published MiE-X)"),
        _config("miex-video", "10 frames per sample from onset to apex (for video recognizers)", video=True),
        *[_config(f"miex-{source}", f"the {source} AU source only", sources=(source,)) for source in SOURCES],
    ]
    DEFAULT_CONFIG_NAME = "miex"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # else cache files take this module's name (docs/reference.md §Hugging Face stack)
        kwargs.setdefault("dataset_name", "miex")
        super().__init__(*args, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=self.__doc__, features=miex_features(video=self.config.video),
                                    citation=CITATION, homepage="https://github.com/liuyvchi/MiE-X")  # fmt: skip

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        del dl_manager  # nothing to download: inputs are local files or the embedded default
        # resolved here, before generation starts, so bad inputs raise MiexInputError itself (not wrapped by datasets)
        self._resolved = resolve_plan(self.config.inputs())
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN)]

    def _generate_examples(self) -> Iterator[tuple[str, dict[str, Any]]]:
        from .generators import load_generator

        config: MiEXConfig = self.config
        resolved = self._resolved
        options: dict[str, Any] = {"model": config.warp_model} if config.generator == "warp" else {
            "checkpoint": config.checkpoint, "device": config.engine.device}  # fmt: skip
        generator = load_generator(config.generator, **options)
        engine = config.engine
        plan, faces = check_faces(resolved.plan, size=engine.size, needs_landmarks=generator.needs_landmarks,
                                  faces_dir=resolved.faces_dir,
                                  report=ValidationReport(strict=engine.strict))  # fmt: skip
        with Renderer(generator, faces, batch_size=engine.batch_size, device=engine.device or "cpu",
                      encoding=engine.encoding, encode_workers=engine.encode_workers) as renderer:  # fmt: skip
            for shard in plan_shards(len(plan), engine.shard_size):  # the CLI's batch boundaries, so the same bytes
                for row in renderer.rows(plan.iloc[shard.start : shard.stop]):
                    yield row["sample_id"], row


__all__ = ["Encoding", "EngineConfig", "MiEX", "MiEXConfig"]
