"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

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
