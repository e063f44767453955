"""One synthesis configuration: the CLI, the Python API and the builder expose the same options with the same meaning,
and the API writes the CLI's bytes."""

from __future__ import annotations

import argparse
import inspect
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest

import miex
from miex.cli import main
from miex.cli import synthesize as synthesize_command
from miex.core.errors import MiexInputError
from miex.data.builder import MiEX, MiEXConfig, builder_options
from miex.data.generators import GENERATORS
from miex.data.plan import PlanConfig
from miex.data.sources import PoolConfig
from miex.data.synthesis import api
from miex.data.synthesis.config import (
    GROUPS,
    LOAD_OPTIONS,
    PRETRAINED_OPTION,
    OutputOptions,
    SynthesisConfig,
    default_of,
    flag,
    option_names,
)
from miex.data.synthesis.engine import EngineConfig
from miex.data.synthesis.shards import shard_files

ROOT = Path(__file__).resolve().parents[1]


def synthesize_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    synthesize_command.configure(parser)
    return parser


def declared_defaults(*configs: type) -> dict[str, Any]:
    return {name: default_of(config, name) for config in configs for name in option_names(config)}


def test_the_cli_the_api_and_the_builder_expose_the_same_options_with_the_same_defaults() -> None:
    declared = declared_defaults(SynthesisConfig, OutputOptions)
    parsed = vars(synthesize_parser().parse_args([]))
    assert {name: tuple(v) if isinstance(v, list) else v for name, v in parsed.items()} == declared
    shown = inspect.signature(miex.synthesize).parameters  # what help(miex) and editors show
    assert {name: p.default for name, p in shown.items() if name != "config"} == declared
    shown = inspect.signature(miex.synthesize_dataset).parameters
    own = {"config", "cache_dir", "download_mode"}
    assert {name: p.default for name, p in shown.items() if name not in own} == declared_defaults(SynthesisConfig)
    assert builder_options() == option_names(SynthesisConfig)
    assert {name: default_of(MiEXConfig, name) for name in builder_options()} == declared_defaults(SynthesisConfig)
    assert {item.metadata["group"] for item in fields(SynthesisConfig)} <= set(GROUPS)
    assert set(PRETRAINED_OPTION) == set(LOAD_OPTIONS) == set(GENERATORS)  # every generator is configurable


def help_flags(text: str) -> set[str]:
    """The flags ``--help`` lists (an option line starts with two spaces and a dash; its help follows two spaces)."""
    lines = [line.strip().split("  ")[0] for line in text.splitlines() if line.startswith("  -")]
    return {word for line in lines for word in re.findall(r"--[\w-]+", line)}


def test_synthesize_help_and_the_launchable_builder_list_every_declared_option() -> None:
    environment = {**os.environ, "COLUMNS": "120", "PYTHONPATH": str(ROOT / "src")}
    shown = {}
    for name, command in (("cli", ["-m", "miex", "synthesize"]), ("builder.py", ["builder.py"])):
        done = subprocess.run(
            [sys.executable, *command, "--help"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        shown[name] = done.stdout
    assert shown["builder.py"] == shown["cli"]
    declared = {flag(name) for name in option_names(SynthesisConfig, OutputOptions)}
    assert help_flags(shown["cli"]) == declared | {"--help", "--no-balanced"}


def test_defaults_are_one_set_everywhere(tmp_path: Path) -> None:
    parsed = synthesize_parser().parse_args([])
    config = SynthesisConfig.from_namespace(parsed)
    assert config == SynthesisConfig() == MiEX(config_name="miex", cache_dir=str(tmp_path)).config.checked()
    assert OutputOptions.from_namespace(parsed) == OutputOptions()
    assert EngineConfig.from_config(config) == EngineConfig()
    assert config.plan_config() == PlanConfig()
    assert config.pool_config() == PoolConfig()


def test_au_pool_and_plan_take_their_options_from_the_same_declaration() -> None:
    from miex.cli import au_pool, plan

    by_group = {
        group: {item.name for item in fields(SynthesisConfig) if item.metadata["group"] == group} for group in GROUPS
    }
    for module, group, required in (
        (au_pool, "sources", ["--out", "x"]),
        (plan, "plan", ["--out", "x", "--faces", "f", "--pool", "p"]),
    ):
        parser = argparse.ArgumentParser()
        module.configure(parser)
        own = {"out", "overwrite"} | ({"faces", "pool"} if module is plan else set())
        assert set(vars(parser.parse_args(required))) == by_group[group] | {"seed"} | own


EXAMPLES: list[tuple[list[str], dict[str, Any]]] = [
    (["--plan", "p.parquet"], {"plan": Path("p.parquet")}),
    (["--faces", "pool"], {"faces": Path("pool")}),
    (["--pool", "au.parquet"], {"pool": "au.parquet"}),
    (["--seed", "7"], {"seed": np.int64(7)}),
    (["--mie-clips", "c.parquet", "--mie-aus", "a.pq"], {"mie_clips": [Path("c.parquet")], "mie_aus": "a.pq"}),
    (["--mae-clips", "c.parquet", "--mae-aus", "a.parquet"], {"mae_clips": ("c.parquet",), "mae_aus": ["a.parquet"]}),
    (["--mae-interval", "0.1", "0.2"], {"mae_interval": [0.1, 0.2]}),
    (["--mae-draws", "3"], {"mae_draws": 3}),
    (["--expert", "5"], {"expert": 5}),
    (["--expert-intensity", "1.5", "4"], {"expert_intensity": (1.5, 4)}),
    (["--expert-table", "table.json"], {"expert_table": Path("table.json")}),
    (["--expert-empty", "keep"], {"expert_empty": "keep"}),
    (["--video"], {"video": True}),
    (["--identities", "2"], {"identities": 2}),
    (["--triplets", "4"], {"triplets": 4}),
    (["--samples-per-identity", "6"], {"samples_per_identity": 6}),
    (["--sources", "mie,expert"], {"sources": ("mie", "expert")}),
    (["--no-balanced"], {"balanced": False}),
    (["--allow-missing"], {"allow_missing": True}),
    (["--frontal-only"], {"frontal_only": True}),
    (["--max-yaw", "30"], {"max_yaw": 30}),
    (["--max-pitch", "12.5"], {"max_pitch": 12.5}),
    (["--generator", "ganimation"], {"generator": "ganimation"}),
    (["--generator", "ganimation", "--checkpoint", "org/gan"], {"generator": "ganimation", "checkpoint": "org/gan"}),
    (["--warp-model", "org/warp"], {"warp_model": "org/warp"}),
    (["--warp-model", "org/warp", "--revision", "v1"], {"warp_model": "org/warp", "revision": "v1"}),
    (["--size", "64"], {"size": 64}),
    (["--batch-size", "5"], {"batch_size": 5}),
    (["--device", "cpu"], {"device": "cpu"}),
    (["--generator", "ganimation", "--compile"], {"generator": "ganimation", "compile": True}),
    (["--no-appearance"], {"no_appearance": True}),
    (["--nuisance", "real"], {"nuisance": "real"}),
    (["--shard-size", "10"], {"shard_size": 10}),
    (["--image-format", "jpeg"], {"image_format": "jpeg"}),
    (["--jpeg-quality", "80"], {"jpeg_quality": 80}),
    (["--encode-workers", "2"], {"encode_workers": 2}),
    (["--strict"], {"strict": True}),
]


def test_every_option_has_an_example_below() -> None:
    covered = {name for _, values in EXAMPLES for name in values}
    assert covered == option_names(SynthesisConfig), "give each new option a non-default example in EXAMPLES"


@pytest.mark.parametrize(("argv", "values"), EXAMPLES, ids=[" ".join(argv) for argv, _ in EXAMPLES])
def test_an_option_given_on_each_surface_gives_the_same_config(
    argv: list[str], values: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[SynthesisConfig] = []

    def stop(config: SynthesisConfig) -> None:  # the job got as far as loading the generator: enough
        seen.append(config)
        raise MiexInputError("stopped before rendering")

    monkeypatch.setattr(api, "load_configured_generator", stop)
    assert main(["synthesize", "--out", str(tmp_path / "cli"), *argv]) == 2
    with pytest.raises(MiexInputError, match="stopped"):
        api.synthesize(out=tmp_path / "api", **values)
    built = MiEX(config_name="miex", cache_dir=str(tmp_path / "cache"), **values).config.checked()
    cli, python = seen
    assert cli == python == built
    default = SynthesisConfig()
    changed = {item.name for item in fields(SynthesisConfig) if getattr(cli, item.name) != getattr(default, item.name)}
    assert changed == set(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"samples_per_identity": 0}, "--samples-per-identity: must be >= 1"),
        ({"size": 2.5}, "--size: expected a whole"),
        ({"balanced": "no"}, "--balanced is a switch"),
        ({"image_format": "gif"}, "--image-format must be one of"),
        ({"checkpoint": "org/gan"}, "--checkpoint names the ganimation generator's files"),
        ({"compile": True}, "--compile applies to --generator ganimation"),
        ({"revision": "v1"}, "--revision picks"),
        ({"generator": "ganimation", "no_appearance": True}, "--no-appearance applies to --generator warp"),
        ({"mie_clips": ["c.parquet"]}, "give one --mie-aus per --mie-clips"),
        ({"shard_size": 0}, "--shard-size must be"),
        ({"samples": 3}, "unknown synthesis option"),
    ],
)
def test_a_bad_option_is_refused_by_the_api_as_by_the_cli(values: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(MiexInputError, match=message):
        api.synthesize(out=tmp_path / "out", **values)
    assert not (tmp_path / "out").exists()


def test_the_api_writes_the_cli_bytes_and_the_dataset_holds_the_folder_rows(
    tmp_path: Path, miex_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(miex_cache))
    small = {"samples_per_identity": 6, "shard_size": 4, "batch_size": 3}
    argv = ["--samples-per-identity", "6", "--shard-size", "4", "--batch-size", "3"]
    assert main(["synthesize", "--out", str(tmp_path / "cli"), *argv]) == 0
    summary = api.synthesize(SynthesisConfig(samples_per_identity=6), tmp_path / "api", shard_size=4, batch_size=3)
    assert summary.samples == 6 and summary.shards == 2 and summary.pushed is None
    cli_files, api_files = shard_files(tmp_path / "cli"), shard_files(tmp_path / "api")
    assert [p.name for p in cli_files] == [p.name for p in api_files]
    assert [p.read_bytes() for p in cli_files] == [p.read_bytes() for p in api_files]
    assert (tmp_path / "cli" / "plan.parquet").read_bytes() == (tmp_path / "api" / "plan.parquet").read_bytes()

    dataset = api.synthesize_dataset(cache_dir=tmp_path / "cache", **small)
    assert isinstance(dataset, datasets.Dataset)
    for column in ("onset", "apex"):
        dataset = dataset.cast_column(column, datasets.Image(decode=False))
    folder_rows = [row for path in cli_files for row in pq.read_table(path).to_pylist()]
    assert dataset.to_list() == folder_rows


def test_no_appearance_reaches_the_warp_generator() -> None:
    """``--no-appearance`` renders motion only, the same switch as ``miex eval-generator --no-appearance``."""
    from miex.data.synthesis.config import load_configured_generator

    assert load_configured_generator(SynthesisConfig(no_appearance=True)).appearance is False
    assert load_configured_generator(SynthesisConfig()).appearance is True
