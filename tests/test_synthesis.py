"""MiE-X synthesis end to end: what `load_dataset` sees, byte-identical reruns, ranks, kills, bad faces, the Hub."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from hub_server import serve_hub
from PIL import Image

from miex.cli import main
from miex.data.synthesis import miex_features
from miex.data.synthesis.shards import shard_files

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--samples-per-identity", "24", "--shard-size", "8", "--batch-size", "4"]
MIEX = [sys.executable, "-m", "miex"]
"""The command line without the console script: tests pass from an unactivated environment (nothing on PATH)."""
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


@pytest.fixture
def env(miex_cache: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(miex_cache))
    return {**os.environ, "XDG_CACHE_HOME": str(miex_cache), "OMP_NUM_THREADS": "1"}


def synthesize(out: Path, *args: str) -> int:
    return main(["synthesize", "--out", str(out), *args])


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in shard_files(out)}


def card_yaml(out: Path) -> dict:
    text = (out / "README.md").read_text()
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture(scope="session")
def shared_default_run(miex_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default synthesis, made once per session."""
    out = tmp_path_factory.mktemp("default_run") / "miex"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(miex_cache))
        assert synthesize(out, *SMALL) == 0
    return out


@pytest.fixture
def default_run(shared_default_run: Path, env: dict[str, str]) -> Path:
    """The shared default run, for tests that only read it (``env`` keeps the cache for any further synthesis)."""
    return shared_default_run


@pytest.fixture
def own_default_run(shared_default_run: Path, tmp_path: Path, env: dict[str, str]) -> Path:
    """A private copy of the default run, for tests that change the folder."""
    out = tmp_path / "miex"
    shutil.copytree(shared_default_run, out, symlinks=True)
    return out


def test_default_synthesis_loads_with_exact_features_and_counts(default_run: Path) -> None:
    dataset = datasets.load_dataset(str(default_run), split="train")
    assert dataset.features == miex_features()
    assert len(dataset) == 24
    assert np.bincount(dataset["label"], minlength=3).tolist() == [8, 8, 8]
    assert set(dataset["source"]) == {2}  # expert only
    row = dataset[0]
    assert row["onset"].size == (128, 128) and row["apex"].size == (128, 128)
    assert np.allclose(row["onset_au"], 0)  # expert onset is neutral, so the onset frame is the face itself
    assert len(shard_files(default_run)) == 3
    streamed = next(iter(datasets.load_dataset(str(default_run), split="train", streaming=True)))
    assert streamed["sample_id"] == row["sample_id"]
    card = card_yaml(default_run)
    sizes = {s["name"]: s["num_examples"] for s in card["dataset_info"]["splits"]}
    assert sizes == {"train": sum(pq.ParquetFile(p).metadata.num_rows for p in shard_files(default_run))}
    assert card["configs"][0]["data_files"][0]["path"] == "data/train-*"
    for image in ("sample_grid.png", "au_distribution.png"):
        assert Image.open(default_run / "images" / image).size[0] > 100
    assert "(ECCV 2022)" in (default_run / "README.md").read_text()


def test_apex_frames_move_and_onsets_stay_the_face(default_run: Path) -> None:
    table = pq.read_table(shard_files(default_run)[0]).to_pylist()
    onsets = {row["onset"]["bytes"] for row in table}
    assert len(onsets) == 1  # one face, zero onset AUs: the very same pixels
    moved = [row for row in table if row["onset"]["bytes"] != row["apex"]["bytes"]]
    assert len(moved) == len(table)


def test_two_runs_give_identical_bytes(default_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "again"
    assert synthesize(other, *SMALL) == 0
    assert shard_bytes(other) == shard_bytes(default_run)
    assert (other / "plan.parquet").read_bytes() == (default_run / "plan.parquet").read_bytes()


def test_rerun_keeps_finished_shards_and_redoes_a_truncated_one(own_default_run: Path) -> None:
    default_run = own_default_run
    before = shard_bytes(default_run)
    paths = shard_files(default_run)
    stamps = {p.name: p.stat().st_mtime_ns for p in paths}
    with paths[1].open("r+b") as handle:
        handle.truncate(paths[1].stat().st_size // 2)
    assert synthesize(default_run, *SMALL) == 0
    assert shard_bytes(default_run) == before
    after = {p.name: p.stat().st_mtime_ns for p in shard_files(default_run)}
    assert after[paths[0].name] == stamps[paths[0].name] and after[paths[2].name] == stamps[paths[2].name]
    assert after[paths[1].name] != stamps[paths[1].name]


def test_a_different_run_in_the_same_folder_needs_overwrite(
    own_default_run: Path, capsys: pytest.CaptureFixture
) -> None:
    default_run = own_default_run
    assert synthesize(default_run, "--samples-per-identity", "12", "--shard-size", "8") == 2
    assert "different synthesis run" in capsys.readouterr().err
    assert synthesize(default_run, "--samples-per-identity", "12", "--shard-size", "8", "--overwrite") == 0
    assert len(datasets.load_dataset(str(default_run), split="train")) == 12


@pytest.mark.slow
def test_two_ranks_give_the_same_bytes_as_one(default_run: Path, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "ranks"
    command = [*TORCHRUN, "--standalone", "--nproc_per_node", "2", str(ROOT / "builder.py"), "--out", str(out), *SMALL]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert shard_bytes(out) == shard_bytes(default_run)
    assert len(datasets.load_dataset(str(out), split="train")) == 24


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_bytes(default_run: Path, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "killed"
    args = [
        sys.executable,
        str(ROOT / "builder.py"),
        "--out",
        str(out),
        "--samples-per-identity",
        "24",
        "--shard-size",
        "2",
        "--batch-size",
        "2",
    ]
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    receipts = out / ".miex" / "shards"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(receipts.glob("*.json"))) < 3 and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list(receipts.glob("*.json")))
    assert 0 < finished < 12, "the kill must land mid-run"
    assert subprocess.run(args, env=env, capture_output=True, timeout=300, cwd=tmp_path).returncode == 0
    reference = tmp_path / "reference"
    assert synthesize(reference, "--samples-per-identity", "24", "--shard-size", "2", "--batch-size", "2") == 0
    assert shard_bytes(out) == shard_bytes(reference)


@pytest.fixture
def faces_with_a_bad_file(tmp_path: Path, default_run: Path, miex_cache: Path) -> Path:
    folder = tmp_path / "faces"
    folder.mkdir()
    crop = next((miex_cache / "miex" / "default-faces").rglob("*.png"))
    shutil.copy(crop, folder / "alice.png")
    Image.open(crop).transpose(Image.FLIP_LEFT_RIGHT).save(folder / "bob.png")
    (folder / "carol.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return folder


def test_an_unreadable_face_is_reported_and_skipped(
    faces_with_a_bad_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "with_bad"
    assert synthesize(out, "--faces", str(faces_with_a_bad_file), "--expert", "3") == 0
    printed = capsys.readouterr().out
    assert "carol.png" in printed and "unreadable" in printed
    dataset = datasets.load_dataset(str(out), split="train")
    assert sorted(set(dataset["identity"])) == ["alice", "bob"]
    assert len(dataset) == 6  # 3 classes x 1 source per identity
    strict = tmp_path / "strict"
    assert synthesize(strict, "--faces", str(faces_with_a_bad_file), "--expert", "3", "--strict") == 2
    assert not shard_files(strict)


def test_video_config_has_ten_frames(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "video"
    assert synthesize(out, "--video", "--samples-per-identity", "3", "--batch-size", "3") == 0
    dataset = datasets.load_dataset(str(out), split="train")
    assert dataset.features == miex_features(video=True)
    row = dataset[0]
    assert len(row["frames"]) == 10 and np.asarray(row["frames_au"]).shape == (10, 17)
    assert np.allclose(row["frames_au"][0], 0) and np.allclose(row["frames_au"][-1], row["apex_au"])
    assert card_yaml(out)["configs"][0]["config_name"] == "miex-video"


def test_builder_class_gives_the_cli_rows(default_run: Path, tmp_path: Path) -> None:
    from miex.data.builder import MiEX

    builder = MiEX(
        config_name="miex-expert",
        cache_dir=str(tmp_path / "cache"),
        samples_per_identity=24,
        shard_size=8,
        batch_size=4,
    )
    builder.download_and_prepare()
    built = builder.as_dataset(split="train").cast_column("onset", datasets.Image(decode=False))
    built = built.cast_column("apex", datasets.Image(decode=False))
    cli = [row for path in shard_files(default_run) for row in pq.read_table(path).to_pylist()]
    assert [r["sample_id"] for r in built] == [r["sample_id"] for r in cli]
    for b, c in zip(built, cli, strict=True):
        assert b["apex"]["bytes"] == c["apex"]["bytes"] and b["label"] == c["label"]
    streamed = next(iter(builder.as_streaming_dataset(split="train")))
    assert streamed["sample_id"] == cli[0]["sample_id"]


def test_builder_refuses_a_source_it_has_no_inputs_for(tmp_path: Path, env: dict[str, str]) -> None:
    from miex.core.errors import MiexInputError
    from miex.data.builder import MiEX

    builder = MiEX(config_name="miex-mie", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(MiexInputError, match="mie"):
        builder.download_and_prepare()


def test_ganimation_checkpoint_renders_through_the_engine(tmp_path: Path, env: dict[str, str]) -> None:
    from miex.data.generators.ganimation.model import GANimationNetwork

    checkpoint = tmp_path / "generator"
    GANimationNetwork(width=8, num_residual_blocks=1, image_size=32).save_pretrained(checkpoint)
    out = tmp_path / "gan"
    assert (
        synthesize(
            out,
            "--generator",
            "ganimation",
            "--checkpoint",
            str(checkpoint),
            "--size",
            "32",
            "--samples-per-identity",
            "6",
        )
        == 0
    )
    dataset = datasets.load_dataset(str(out), split="train")
    assert len(dataset) == 6 and dataset[0]["apex"].size == (32, 32)
    assert '"name":"ganimation"' in dataset[0]["generator"]


@pytest.mark.slow
def test_synthesize_push_to_hub_then_load(default_run: Path, tmp_path: Path, miex_cache: Path) -> None:
    with serve_hub(tmp_path) as hub:
        env = {**hub.env(tmp_path / "client"), "XDG_CACHE_HOME": str(miex_cache)}
        pushed = subprocess.run(
            [*MIEX, "synthesize", "--out", str(tmp_path / "pushed"), *SMALL, "--push-to-hub", "org/miex"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert pushed.returncode == 0, pushed.stderr[-2000:]
        code = (
            "import datasets; d = datasets.load_dataset('org/miex', split='train'); "
            "print(len(d), d.features['source'].names, d[0]['sample_id'])"
        )
        loaded = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert loaded.returncode == 0, loaded.stderr[-2000:]
        assert loaded.stdout.split()[0] == "24"
        stored = hub.files("org/miex", "dataset")
        assert {name: stored[f"data/{name}"] for name in shard_bytes(default_run)} == shard_bytes(default_run)


@pytest.mark.slow
def test_two_ranks_match_one_on_several_identities_and_all_three_sources(tmp_path: Path, env: dict[str, str]) -> None:
    """Real faces of several identities, mie + mae + expert triplets with non-zero onsets; the two-rank run also
    uses another batch size: neither may change a byte."""
    import face_fixtures as ff

    from miex.data.aus.schema import AU_NAMES
    from miex.data.aus.table import write_au_table
    from miex.data.corpora.clips import Clip, clips_to_frame, write_clip_table

    photos = tmp_path / "photos"
    face = ff.astronaut()
    ff.save(photos / "a.png", face)
    ff.save(photos / "b.png", np.ascontiguousarray(face[:, ::-1]))
    ff.save(photos / "c.png", np.clip(face.astype(np.int16) * 0.8 + 20, 0, 255).astype(np.uint8))
    assert main(["faces", str(photos), "--out", str(tmp_path / "pool"), "--workers", "1"]) == 0
    rng = np.random.default_rng(5)
    emotions = {0: "disgust", 1: "happiness", 2: "surprise"}

    def corpus(name: str, expression: str) -> tuple[Path, Path]:
        clips, rows = [], []
        for label, emotion in emotions.items():
            subject, clip = f"s{label}", f"{name}{label}"
            frames, numbers = [f"{subject}/{clip}/{k}.jpg" for k in range(12)], list(range(12))
            clips.append(
                Clip(name, subject, clip, frames, numbers, 0, 6, 11, emotion, label, 100.0, expression=expression)
            )
            for path, number in zip(frames, numbers, strict=True):
                values = rng.uniform(0, 3, len(AU_NAMES)).round(3)
                rows.append(
                    {
                        "path": path,
                        "dataset": name,
                        "subject": subject,
                        "clip": clip,
                        "frame": number,
                        "extractor": "test",
                        **dict(zip(AU_NAMES, values, strict=True)),
                    }
                )
        clip_path = write_clip_table(clips_to_frame(clips), tmp_path / f"{name}.parquet")
        import pandas as pd

        return clip_path, write_au_table(pd.DataFrame(rows), tmp_path / f"{name}_aus.parquet")

    mie, mae = corpus("casme2", "micro"), corpus("ckplus", "macro")
    pool = tmp_path / "au_pool.parquet"
    assert (
        main(
            [
                "au-pool",
                "--out",
                str(pool),
                "--mie-clips",
                str(mie[0]),
                "--mie-aus",
                str(mie[1]),
                "--mae-clips",
                str(mae[0]),
                "--mae-aus",
                str(mae[1]),
                "--expert",
                "4",
            ]
        )
        == 0
    )
    plan = tmp_path / "plan.parquet"
    assert main(["plan", "--faces", str(tmp_path / "pool"), "--pool", str(pool), "--out", str(plan)]) == 0
    inputs = ["--plan", str(plan), "--faces", str(tmp_path / "pool"), "--shard-size", "4"]
    one = tmp_path / "one"
    assert synthesize(one, *inputs, "--batch-size", "5") == 0
    rows = datasets.load_dataset(str(one), split="train")
    assert len(set(rows["identity"])) == 3 and set(rows["source"]) == {0, 1, 2}
    assert any(np.asarray(au).any() for au in rows["onset_au"])  # real onsets are rendered, not copied
    two = tmp_path / "two"
    command = [
        *TORCHRUN,
        "--standalone",
        "--nproc_per_node",
        "2",
        str(ROOT / "builder.py"),
        "--out",
        str(two),
        *inputs,
        "--batch-size",
        "3",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert shard_bytes(two) == shard_bytes(one)


def test_the_au_figure_shows_the_change_of_each_present_source(tmp_path: Path) -> None:
    """A mie onset that carries resting AUs shows only what the apex adds; empty sources are not drawn."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    from miex.data.synthesis.card import au_changes, au_plot

    resting = np.full(17, 2.0, np.float32)
    smile = resting.copy()
    smile[8] += 1.5  # AU12
    meta = pd.DataFrame(
        {
            "source": [0, 0, 2],
            "label": [1, 1, 2],
            "onset_au": [resting, resting, np.zeros(17)],
            "apex_au": [smile, resting, np.eye(17)[0]],
        }
    )
    panels = dict(au_changes(meta))
    assert list(panels) == ["mie (n=2)", "expert (n=1)"]  # mae has no sample: no panel
    np.testing.assert_allclose(panels["mie (n=2)"][1], np.eye(17)[8] * 0.75)  # the mean change, not the 2.0 at rest
    np.testing.assert_allclose(panels["expert (n=1)"][2], np.eye(17)[0])
    au_plot(meta, tmp_path / "au.png")
    with Image.open(tmp_path / "au.png") as image:
        colours = np.unique(np.asarray(image).reshape(-1, 3), axis=0)
        assert image.width > 2 * 300 and len(colours) > 4  # two panels, coloured bars
