"""Shared pytest fixtures.

The whole suite runs offline: the Hub clients are told so before any test imports them, so an accidental
``from_pretrained("org/x")`` or ``load_dataset("org/x")`` fails at once instead of reaching the network. Hub tests
talk only to the loopback server of :mod:`hub_server`, in subprocesses whose environment (``LoopbackHub.env``)
replaces these variables with its own endpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import corpus_fixtures as cf
import pytest


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
