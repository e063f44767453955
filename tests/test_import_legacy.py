"""``miex import-legacy``: the authors' released folders become a loadable MiE-X with the original JPEG bytes."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from miex.cli import main
from miex.data.synthesis import miex_features
from miex.data.synthesis.shards import shard_files

GOOD = {
    "00001_expert_0": "negative/expert",
    "00001_mie_1": "positive/mie",
    "00002_ck_2": "surprise/mae",
    "id_with_underscores_rule_surprise": "surprise/expert",
    "00003_macro_positive": "positive/mae",
}


def write_jpeg(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(path, quality=90)


@pytest.fixture
def release(tmp_path: Path) -> Path:
    root = tmp_path / "MiE-X"
    bad = ["00004_dream_0", "00005_expert_7", "00006_mie_0", "00007_mae_1", "00001_real_positive", "00008_mie_2"]
    for seed, name in enumerate([*GOOD, *bad]):
        folder = root / name
        folder.mkdir(parents=True)
        write_jpeg(folder / "0.jpg", 2 * seed)
        write_jpeg(folder / "1.jpg", 2 * seed + 1)
    (root / "00006_mie_0" / "1.jpg").unlink()  # missing apex
    truncated = root / "00007_mae_1" / "1.jpg"
    truncated.write_bytes(truncated.read_bytes()[:200])
    Image.new("RGB", (24, 24)).save(root / "00008_mie_2" / "1.jpg", format="PNG")  # a PNG named .jpg
    (root / "notes.txt").write_text("loose file")
    return root


def test_import_keeps_bytes_labels_and_reports_bad_folders(
    release: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "imported"
    assert main(["import-legacy", str(release), "--out", str(out), "--shard-size", "2"]) == 0
    printed = capsys.readouterr().out
    for name, reason in (
        ("00004_dream_0", "unknown source"),
        ("00005_expert_7", "unknown label"),
        ("00006_mie_0", "missing frame"),
        ("00007_mae_1", "truncated"),
        ("00001_real_positive", "duplicate of 00001_mie_1"),
        ("00008_mie_2", "expected a JPEG"),
        ("notes.txt", "not a sample folder"),
    ):
        assert name in printed and reason in printed
    dataset = datasets.load_dataset(str(out), split="train")
    assert dataset.features == miex_features()
    assert dataset["sample_id"] == sorted(GOOD)
    labels, sources = dataset.features["label"], dataset.features["source"]
    raw = dataset.cast_column("onset", datasets.Image(decode=False)).cast_column("apex", datasets.Image(decode=False))
    for row in raw:
        name = row["sample_id"]
        assert f"{labels.int2str(row['label'])}/{sources.int2str(row['source'])}" == GOOD[name]
        assert row["onset"]["bytes"] == (release / name / "0.jpg").read_bytes()
        assert row["apex"]["bytes"] == (release / name / "1.jpg").read_bytes()
        assert np.isnan(row["apex_au"]).all() and len(row["apex_au"]) == 17
        assert json.loads(row["generator"])["name"] == "legacy-release"
    assert dataset[dataset["sample_id"].index("id_with_underscores_rule_surprise")]["identity"] == "id_with_underscores"
    assert len(shard_files(out)) == 3
    card = (out / "README.md").read_text()
    assert "Imported from the authors' release" in card and "NaN" in card


def test_import_is_deterministic_and_strict_mode_stops(release: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        assert main(["import-legacy", str(release), "--out", str(out)]) == 0
    assert [p.read_bytes() for p in shard_files(first)] == [p.read_bytes() for p in shard_files(second)]
    assert main(["import-legacy", str(release), "--out", str(tmp_path / "strict"), "--strict"]) == 2


def test_source_map_extends_the_spellings(release: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"dream": "expert"}))
    for spec, out in ((str(mapping), tmp_path / "mapped"), ('{"dream": "expert"}', tmp_path / "inline")):
        assert main(["import-legacy", str(release), "--out", str(out), "--source-map", spec]) == 0
        assert "00004_dream_0" in datasets.load_dataset(str(out), split="train")["sample_id"]
    mapping.write_text(json.dumps({"dream": "nightmare"}))
    assert main(["import-legacy", str(release), "--out", str(tmp_path / "bad"), "--source-map", str(mapping)]) == 2
