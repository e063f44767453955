"""``miex push`` and ``miex.data.hub`` against the loopback Hub (real HTTP on 127.0.0.1, never the network).

The Hub clients read HF_ENDPOINT / HF_HUB_DISABLE_XET at import time and this process has already imported them,
so every client call runs in a subprocess whose environment comes from ``LoopbackHub.env``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
from hub_server import LOOPBACK_TOKEN, LoopbackHub, serve_hub
from huggingface_hub import DatasetCard, DatasetCardData
from PIL import Image

from miex.core.errors import MiexInputError
from miex.data.hub import check_folder, check_repo_id

TESTS = Path(__file__).resolve().parent
CLASSES = ["negative", "positive", "surprise"]
SHARD = "data/train-00000-of-00001.parquet"
TIMEOUT = 120


def build_miex_folder(root: Path, rows: int = 6) -> datasets.Dataset:
    """A small MiE-X-shaped folder: one parquet shard with embedded PNGs, a card generated from the shard, run state."""
    rng = np.random.default_rng(0)
    features = datasets.Features(
        {
            "onset": datasets.Image(),
            "apex": datasets.Image(),
            "label": datasets.ClassLabel(names=CLASSES),
            "aus": datasets.List(datasets.Value("float32"), length=17),
            "identity": datasets.Value("string"),
        }
    )
    frames = [Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)) for _ in range(2 * rows)]
    dataset = datasets.Dataset.from_dict(
        {
            "onset": frames[:rows],
            "apex": frames[rows:],
            "label": [i % 3 for i in range(rows)],
            "aus": rng.uniform(0, 5, (rows, 17)).astype(np.float32).tolist(),
            "identity": [f"id{i // 3:03d}" for i in range(rows)],
        },
        features=features,
    )
    (root / "data").mkdir(parents=True)
    dataset.to_parquet(root / SHARD)
    info = datasets.DatasetInfo(
        features=dataset.features,
        splits=datasets.SplitDict({"train": datasets.SplitInfo("train", num_examples=len(dataset), num_bytes=0)}),
    )
    card_data = DatasetCardData(license="cc-by-nc-4.0")
    datasets.info.DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    configs = {"default": {"data_files": [{"split": "train", "path": "data/train-*"}]}}
    datasets.utils.metadata.MetadataConfigs(configs).to_dataset_card_data(card_data)
    DatasetCard(f"---\n{card_data.to_yaml()}\n---\n\n# MiE-X (test)\n").save(root / "README.md")
    # Run state and a leftover temp file of an atomic write: never published.
    (root / ".miex" / "shards").mkdir(parents=True)
    shard = (root / SHARD).read_bytes()
    receipt = {"rows": rows, "bytes": len(shard), "sha256": hashlib.sha256(shard).hexdigest(), "fingerprint": "test"}
    (root / ".miex" / "shards" / "train-00000-of-00001.parquet.json").write_text(json.dumps(receipt))
    (root / "data" / "train-00001-of-00002.parquet.tmp").write_bytes(b"half a shard")
    return dataset


def digest_rows(rows: Any) -> list[list[Any]]:
    """Rows as comparable values: decoded images by mode, size and pixel hash (identical across both processes)."""

    def value(item: Any) -> Any:
        if isinstance(item, Image.Image):
            return [item.mode, list(item.size), hashlib.sha256(np.asarray(item).tobytes()).hexdigest()]
        return [float(x) for x in item] if isinstance(item, list) else item

    return [[value(row[key]) for key in sorted(row)] for row in rows]


def load_in_child(repo_id: str, out: str) -> None:
    """Run in the client subprocess: load through the Hub endpoint (regular and streaming), write what came back."""
    loaded = datasets.load_dataset(repo_id, split="train")
    result: dict[str, Any] = {
        "features": loaded.features.to_dict(),
        "rows": digest_rows(loaded),
        "shard_sha256": hashlib.sha256(Path(loaded.cache_files[0]["filename"]).read_bytes()).hexdigest(),
    }
    streamed = datasets.load_dataset(repo_id, split="train", streaming=True)
    result["stream_features"] = streamed.features.to_dict() if streamed.features is not None else None
    result["stream_rows"] = digest_rows(streamed)
    Path(out).write_text(json.dumps(result))


def miex(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command line as ``python -m miex`` (the console script's ``main``, found without PATH)."""
    command = [sys.executable, "-m", "miex", *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r}); {code}"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=TIMEOUT)


def local_files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}


@pytest.fixture
def hub(tmp_path: Path):
    with serve_hub(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory):
    """One loopback Hub with the test folder pushed by ``miex push`` (shared: pushing is the slow part)."""
    tmp = tmp_path_factory.mktemp("published")
    folder = tmp / "miex"
    dataset = build_miex_folder(folder)
    with serve_hub(tmp) as running:
        result = miex("push", folder, "--repo", "org/miex", env=running.env(tmp))
        yield running, folder, dataset, result, tmp


def test_push_uploads_every_file_and_no_run_state(published: tuple[LoopbackHub, Path, Any, Any, Path]) -> None:
    hub, folder, _, result, _ = published
    assert result.returncode == 0, result.stderr
    assert f"{hub.endpoint}/datasets/org/miex" in result.stdout
    assert 'load_dataset("org/miex"' in result.stdout
    remote = hub.files("org/miex")
    expected = {
        path: data for path, data in local_files(folder).items() if not path.startswith(".miex/") and ".tmp" not in path
    }
    assert set(expected) == {"README.md", SHARD}
    assert {path: remote[path] for path in expected} == expected  # identical bytes
    assert set(remote) == set(expected) | {".gitattributes"}  # .gitattributes: the Hub's initial commit
    assert hashlib.sha256(expected[SHARD]).hexdigest() in hub.uploads  # the shard went through LFS + PUT
    assert not hub.stray  # pushing talks to the endpoint only
    assert all(request.authorization != request.path.startswith("/lfs/") for request in hub.requests)  # no token to CDN
    assert "HTTP Request:" not in result.stderr  # httpx2's per-request log lines stay quiet without -v


def test_load_dataset_round_trip(published: tuple[LoopbackHub, Path, Any, Any, Path]) -> None:
    hub, _, dataset, result, tmp = published
    assert result.returncode == 0, result.stderr
    out = tmp / "loaded.json"
    child = python(f"import test_hub; test_hub.load_in_child('org/miex', {str(out)!r})", hub.env(tmp / "reader"))
    assert child.returncode == 0, child.stderr[-4000:]
    loaded = json.loads(out.read_text())
    expected_features = json.loads(json.dumps(dataset.features.to_dict()))
    expected_rows = json.loads(json.dumps(digest_rows(dataset)))
    assert loaded["features"] == expected_features
    assert loaded["rows"] == expected_rows
    assert loaded["stream_features"] == expected_features
    assert loaded["stream_rows"] == expected_rows
    # The LFS shard came from the CDN listener (a 302 away from the endpoint); only viewer lookups went elsewhere.
    assert any(r.path.startswith("/datasets/org/miex/resolve/") and r.status == 302 for r in hub.requests)
    assert all("datasets-server." in stray for stray in hub.stray), hub.stray
    assert not any(r.authorization for r in hub.requests if r.path.startswith("/lfs/"))  # token stays on the Hub


@pytest.mark.slow
def test_push_twice_is_idempotent_and_resumes(tmp_path: Path, hub: LoopbackHub) -> None:
    folder = tmp_path / "miex"
    build_miex_folder(folder)
    env = hub.env(tmp_path)
    hub.fail("commit", 500)  # interrupted: the shard is uploaded, then the commit fails
    first = miex("push", folder, "--repo", "org/miex", "--private", env=env)
    assert first.returncode == 2
    assert "500" in first.stderr and "run the same push again to resume" in first.stderr
    assert len(hub.uploads) == 1 and len(hub.repo("org/miex").commits) == 1  # only .gitattributes so far
    assert hub.repo("org/miex").private

    second = miex("push", folder, "--repo", "org/miex", "--message", "MiE-X test", env=env)
    assert second.returncode == 0, second.stderr
    assert len(hub.uploads) == 1  # the shard was not sent again
    assert hub.repo("org/miex").head.title == "MiE-X test"
    assert hub.files("org/miex")[SHARD] == (folder / SHARD).read_bytes()
    commits = len(hub.repo("org/miex").commits)

    third = miex("push", folder, "--repo", "org/miex", env=env)
    assert third.returncode == 0, third.stderr
    assert len(hub.uploads) == 1 and len(hub.repo("org/miex").commits) == commits  # nothing changed: no commit


@pytest.mark.parametrize(
    ("layout", "missing"),
    [({"data/train-00000-of-00001.parquet": b"PAR1"}, "README.md"), ({"README.md": b"# card\n"}, "data")],
)
def test_push_refuses_a_folder_that_is_not_miex(
    tmp_path: Path, hub: LoopbackHub, layout: dict[str, bytes], missing: str
) -> None:
    folder = tmp_path / "not-miex"
    for name, content in layout.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    result = miex("push", folder, "--repo", "org/miex", env=hub.env(tmp_path))
    assert result.returncode == 2
    assert str(folder / missing) in result.stderr
    assert "miex synthesize" in result.stderr
    assert hub.requests == [] and hub.repos == {}  # nothing was sent


@pytest.mark.parametrize("token", ["hf_wrong_token", None])
def test_bad_token_gives_the_auth_message(tmp_path: Path, hub: LoopbackHub, token: str | None) -> None:
    folder = tmp_path / "miex"
    build_miex_folder(folder)
    args = ["--token", token] if token else []
    result = miex("push", folder, "--repo", "org/miex", *args, env=hub.env(tmp_path, token=None))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "401 Unauthorized" in result.stderr
    assert "hf auth login" in result.stderr and "HF_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert hub.repos == {} and hub.uploads == []


def test_push_model_folder(tmp_path: Path, hub: LoopbackHub) -> None:
    """The training runner's path: push_folder(repo_type="model") of a saved model + card, then download it."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "miex-branches", "num_labels": 3}')
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n\n# Model\n")
    (folder / ".miex").mkdir()
    (folder / ".miex" / "trainer_state.json").write_text("{}")
    code = (
        "from miex.data.hub import push_folder; from huggingface_hub import snapshot_download; "
        f"print(push_folder({str(folder)!r}, 'org/miex-model', repo_type='model', commit_message='model')); "
        "print(snapshot_download('org/miex-model'))"
    )
    result = python(code, hub.env(tmp_path))
    assert result.returncode == 0, result.stderr[-4000:]
    url, snapshot = result.stdout.split()[-2:]
    assert url == f"{hub.endpoint}/org/miex-model"
    pushed = {path: data for path, data in local_files(folder).items() if not path.startswith(".miex/")}
    assert {p: d for p, d in hub.files("org/miex-model", repo_type="model").items() if p != ".gitattributes"} == pushed
    assert {p: d for p, d in local_files(Path(snapshot)).items() if p != ".gitattributes"} == pushed


def test_check_folder_lists_what_would_be_uploaded(tmp_path: Path) -> None:
    folder = tmp_path / "miex"
    build_miex_folder(folder, rows=3)
    assert check_folder(folder) == ["README.md", SHARD]
    (folder / "data" / "train-00000-of-00002.parquet").write_bytes(b"PAR1")  # an unfinished 2-shard series
    with pytest.raises(MiexInputError, match=r"1 of 2 'train' shards are missing .*train-00001-of-00002"):
        check_folder(folder)
    with pytest.raises(MiexInputError, match="model folder is empty"):
        (tmp_path / "empty").mkdir()
        check_folder(tmp_path / "empty", "model")


@pytest.mark.parametrize(
    ("card", "refusal"),
    [
        (b"---\nconfigs: [unclosed\n---\n", "YAML front matter does not parse"),
        (b"---\n- a list\n---\n", "YAML front matter must be a mapping"),
        (b"---\nlicense: \xff\n---\n", "not UTF-8 text"),
        ("\ufeff---\nlicense: other\n---\n".encode(), None),
        (b"# no front matter\n", None),
    ],
)
def test_check_folder_reads_the_cards_front_matter(tmp_path: Path, card: bytes, refusal: str | None) -> None:
    """A card the Hub would refuse is refused before the upload; a card without metadata passes."""
    folder = tmp_path / "miex"
    build_miex_folder(folder, rows=3)
    (folder / "README.md").write_bytes(card + b"\n# MiE-X\n")
    if refusal is None:
        assert check_folder(folder) == ["README.md", SHARD]
    else:
        with pytest.raises(MiexInputError, match=refusal):
            check_folder(folder)


@pytest.mark.parametrize("repo_id", ["miex", "org/", "org/na me", "a/b/c", "org/x--y", ""])
def test_check_repo_id_rejects_malformed_ids(repo_id: str) -> None:
    with pytest.raises(MiexInputError, match="ORG/NAME"):
        check_repo_id(repo_id)


def test_loopback_env_points_everything_at_the_server(tmp_path: Path, hub: LoopbackHub) -> None:
    env = hub.env(tmp_path, base={"HF_HUB_OFFLINE": "1", "HTTPS_PROXY": "http://corp:3128", "PATH": "/bin"})
    assert env["HF_ENDPOINT"] == hub.endpoint and env["HF_HUB_DISABLE_XET"] == "1"
    assert "HF_HUB_OFFLINE" not in env and env["HTTPS_PROXY"] == hub.endpoint and env["NO_PROXY"] == "127.0.0.1"
    assert env["HF_TOKEN"] == LOOPBACK_TOKEN and env["PATH"] == "/bin"


def test_push_help_says_how_to_load(capsys: pytest.CaptureFixture[str]) -> None:
    from miex.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["push", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--repo ORG/NAME" in text and "--private" in text and "--token" in text and "--message" in text
    assert 'load_dataset("my-lab/miex"' in text and "hf auth login" in text


def test_the_suite_itself_cannot_reach_the_hub() -> None:
    """conftest.py sets the offline switches before any Hub client is imported: in-process Hub calls fail at once."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    assert constants.HF_HUB_OFFLINE
    with pytest.raises(LocalEntryNotFoundError, match="local cache"):  # answered from the cache, never the network
        hf_hub_download("org/miex", "README.md", repo_type="dataset")
