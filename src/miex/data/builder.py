"""``MiEX``: the synthesis engine as a ``datasets.GeneratorBasedBuilder``.

``datasets`` (>= 4) no longer runs loading scripts, so ``load_dataset("miex")`` reads a folder written by
``miex synthesize`` (or the Hub repo it was pushed to). This class is the third way in: it renders the same rows
in-process. Its parameters are :class:`~miex.data.synthesis.config.SynthesisConfig`'s fields, the options of
``miex synthesize`` (``--samples-per-identity`` is ``samples_per_identity=``)::

    from miex.data.builder import MiEX

    builder = MiEX(config_name="miex", faces="pool/", pool="au_pool.parquet")   # no arguments: embedded default
    builder.download_and_prepare()
    ds = builder.as_dataset(split="train")           # or builder.as_streaming_dataset(split="train")

Configs: ``miex`` (three sources, onset + apex), ``miex-video`` (10 frames), and ``miex-mie``, ``miex-mae``,
``miex-expert`` (one source each). Rows equal the CLI's shards row for row, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import datasets

from miex.core.report import ValidationReport
from miex.data.sources import SOURCES
from miex.data.synthesis.config import SynthesisConfig, load_configured_generator
from miex.data.synthesis.engine import EngineConfig
from miex.data.synthesis.faces import check_faces
from miex.data.synthesis.inputs import resolve_plan
from miex.data.synthesis.render import Encoding, Renderer
from miex.data.synthesis.schema import miex_features
from miex.data.synthesis.shards import plan_shards

CITATION = """@inproceedings{liu2022mie,
  title={How to Synthesize a Large-Scale and Trainable Micro-Expression Dataset?},
  author={Liu, Yuchi and Wang, Zhongdao and Gedeon, Tom and Zheng, Liang},
  booktitle={European Conference on Computer Vision (ECCV)}, year={2022}}"""


@dataclass
class MiEXConfig(datasets.BuilderConfig, SynthesisConfig):
    """The builder's parameters: every :class:`SynthesisConfig` field (the ``miex synthesize`` options), plus the
    ``BuilderConfig`` name, version and description."""

    def __post_init__(self) -> None:
        datasets.BuilderConfig.__post_init__(self)
        SynthesisConfig.__post_init__(self)

    @property
    def engine(self) -> EngineConfig:
        """The rendering options as an :class:`EngineConfig`."""
        return EngineConfig.from_config(self.checked())


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
        return datasets.DatasetInfo(
            description=self.__doc__,
            features=miex_features(video=self.config.video),
            citation=CITATION,
            homepage="https://github.com/liuyvchi/MiE-X",
        )

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        del dl_manager  # nothing to download: inputs are local files or the embedded default
        # checked and resolved here, before generation starts, so bad inputs raise MiexInputError itself (not wrapped
        # by datasets); datasets sets parameters as attributes, so they are checked again as a plain config
        self._job = self.config.checked()
        self._resolved = resolve_plan(self._job.inputs())
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN)]

    def _generate_examples(self) -> Iterator[tuple[str, dict[str, Any]]]:
        job, resolved = self._job, self._resolved
        engine = EngineConfig.from_config(job)
        generator = load_configured_generator(job)
        plan, faces = check_faces(
            resolved.plan,
            size=engine.size,
            needs_landmarks=generator.needs_landmarks,
            faces_dir=resolved.faces_dir,
            report=ValidationReport(strict=engine.strict),
        )
        with Renderer(
            generator,
            faces,
            batch_size=engine.batch_size,
            device=engine.device or "cpu",
            encoding=engine.encoding,
            encode_workers=engine.encode_workers,
            nuisance=engine.nuisance,
        ) as renderer:
            for shard in plan_shards(len(plan), engine.shard_size):  # the CLI's batch boundaries, so the same bytes
                for row in renderer.rows(plan.iloc[shard.start : shard.stop]):
                    yield row["sample_id"], row


def builder_options() -> set[str]:
    """The synthesis parameters the builder takes (its config's fields beyond ``BuilderConfig``'s)."""
    base = {item.name for item in fields(datasets.BuilderConfig)}
    return {item.name for item in fields(MiEXConfig)} - base


__all__ = ["Encoding", "EngineConfig", "MiEX", "MiEXConfig", "SynthesisConfig", "builder_options"]
