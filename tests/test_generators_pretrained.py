"""Generators load like diffusers pipelines: ``from_pretrained`` (folder, Hub repo, own-format file) and
``save_pretrained``/``push_to_hub``; synthesis from a Hub repo records the commit it resolved to (loopback Hub)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from hub_server import serve_hub

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.data.aus.motion import default_model_dict
from miex.data.generators import load_generator
from miex.data.generators.ganimation.model import GANimationNetwork
from miex.data.generators.ganimation.pipeline import GANimationGenerator
from miex.data.generators.warp import WarpGenerator
from miex.data.synthesis.shards import shard_files

# native -> the original release's key names (main.*, img_reg, attetion_reg), written out here independently
OFFICIAL_NAMES = [
    (r"^trunk\.(\d+)\.block\.", r"main.\1.main."),
    (r"^trunk\.", "main."),
    (r"^color_head\.", "img_reg."),
    (r"^attention_head\.", "attetion_reg."),
]


def tiny_gan(image_size: int = 32) -> GANimationNetwork:
    torch.manual_seed(0)
    return GANimationNetwork(width=8, num_residual_blocks=1, image_size=image_size)


def official_key(key: str) -> str:
    for pattern, replacement in OFFICIAL_NAMES:
        renamed, count = re.subn(pattern, replacement, key)
        if count:
            return renamed
    return key


def slower_smile() -> WarpGenerator:
    """A warp whose motion model differs from the built-in one (AU12 at half its motion), without appearance cues."""
    model = default_model_dict()
    for group in model["aus"]["AU12"]:
        group["shift"] = [value / 2 for value in group["shift"]]
    return WarpGenerator(model, appearance=False)


def test_ganimation_loads_its_folder_and_an_original_pth_alike(tmp_path: Path) -> None:
    model = tiny_gan(128)  # an original .pth does not say its size: the release's 128 is assumed
    folder = GANimationGenerator(model, device="cpu").save_pretrained(tmp_path / "gan")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "README.md"}
    torch.save({official_key(k): v for k, v in model.state_dict().items()}, tmp_path / "net_epoch_30_id_G.pth")
    faces, aus = torch.rand(2, 3, 128, 128), np.random.default_rng(0).uniform(0, 5, (2, 17))
    from_folder = load_generator("ganimation", folder, device="cpu")
    from_pth = load_generator("ganimation", tmp_path / "net_epoch_30_id_G.pth", device="cpu")
    assert torch.equal(from_folder(faces, aus), from_pth(faces, aus))
    assert from_folder.revision is None and "revision" not in from_folder.config  # local files: no commit


def test_warp_saves_a_folder_that_loads_like_its_json(tmp_path: Path) -> None:
    custom = slower_smile()
    folder = custom.save_pretrained(tmp_path / "warp")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "facs_motion.json"]
    loaded = load_generator("warp", folder)
    assert loaded.config["model_sha256"] == custom.config["model_sha256"] != WarpGenerator().config["model_sha256"]
    assert loaded.appearance is False and loaded.config["model"] == str(folder)  # settings come back from config.json
    assert np.array_equal(loaded.motion.basis, custom.motion.basis)
    loose = load_generator("warp", folder / "facs_motion.json")  # a motion-model file alone: default settings
    assert np.array_equal(loose.motion.basis, custom.motion.basis) and loose.appearance is True
    with pytest.raises(MiexInputError, match="--revision applies to a Hub repo id"):
        load_generator("warp", folder, revision="v1")


def test_an_unreachable_repo_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"  # the suite runs with HF_HUB_OFFLINE=1 (conftest): the repo is not cached
    assert main(["synthesize", "--generator", "ganimation", "--checkpoint", "org/absent", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "'org/absent'" in error and "HF_HUB_OFFLINE" in error
    assert not out.exists()
    with pytest.raises(MiexInputError, match="not found"):
        load_generator("ganimation", tmp_path / "missing.pth")


def rows(out: Path) -> list[dict]:
    return [row for path in shard_files(out) for row in pq.read_table(path).to_pylist()]


@pytest.mark.slow
def test_synthesis_from_hub_repos_records_the_commit(tmp_path: Path, miex_cache: Path) -> None:
    GANimationGenerator(tiny_gan(), device="cpu").save_pretrained(tmp_path / "gan")
    slower_smile().save_pretrained(tmp_path / "warp")
    small = ["--samples-per-identity", "3", "--batch-size", "3"]
    gan = ["--generator", "ganimation", "--size", "32", *small]
    script = f"""
from miex.cli import main
from miex.data.generators import load_generator
load_generator("ganimation", {str(tmp_path / "gan")!r}, device="cpu").push_to_hub("org/gan")
load_generator("warp", {str(tmp_path / "warp")!r}).push_to_hub("org/warp")
codes = [main(["synthesize", "--out", {str(tmp_path / "hub_gan")!r}, "--checkpoint", "org/gan", *{gan!r}]),
         main(["synthesize", "--out", {str(tmp_path / "local_gan")!r}, "--checkpoint", {str(tmp_path / "gan")!r},
               *{gan!r}]),
         main(["synthesize", "--out", {str(tmp_path / "hub_warp")!r}, "--warp-model", "org/warp", "--revision", "main",
               *{small!r}])]
print("codes", codes)
"""
    with serve_hub(tmp_path) as hub:
        env = {**hub.env(tmp_path / "client"), "XDG_CACHE_HOME": str(miex_cache), "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "codes [0, 0, 0]" in done.stdout, done.stderr[-3000:]
        commits = {name: hub.repo(f"org/{name}", "model").head.oid for name in ("gan", "warp")}
    for name, source, commit in (("hub_gan", "org/gan", commits["gan"]), ("hub_warp", "org/warp", commits["warp"])):
        recorded = json.loads((tmp_path / name / ".miex" / "run.json").read_text())["generator"]
        assert recorded["revision"] == commit and source in (recorded.get("checkpoint"), recorded.get("model"))
        assert all(json.loads(row["generator"])["revision"] == commit for row in rows(tmp_path / name))
        assert f'"revision": "{commit}"' in (tmp_path / name / "README.md").read_text()  # the card says it too
    assert json.loads(rows(tmp_path / "hub_warp")[0]["generator"])["appearance"] is False  # the repo's config.json
    from_hub, local = rows(tmp_path / "hub_gan"), rows(tmp_path / "local_gan")
    assert [row["apex"]["bytes"] for row in from_hub] == [row["apex"]["bytes"] for row in local]  # the same weights
