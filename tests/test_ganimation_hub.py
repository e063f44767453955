"""A trained GANimation generator travels through the Hub as a model repo with a card (loopback Hub, real HTTP)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from hub_server import serve_hub

from miex.data.generators.ganimation.model import GANimationNetwork


def test_generator_round_trips_through_a_model_repo(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = GANimationNetwork(width=8, num_residual_blocks=1, image_size=32)
    folder = tmp_path / "generator"
    model.save_pretrained(folder)
    assert (folder / "README.md").is_file() and (folder / "model.safetensors").is_file()
    faces, aus = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 17)
    expected = model.eval()(faces, aus)[0]
    torch.save({"faces": faces, "aus": aus, "expected": expected}, tmp_path / "probe.pt")
    with serve_hub(tmp_path) as hub:
        env = hub.env(tmp_path / "client")
        push = [sys.executable, "-m", "miex", "push", str(folder), "--repo", "org/gan", "--repo-type", "model"]
        pushed = subprocess.run(push, env=env, capture_output=True, text=True, timeout=120)
        assert pushed.returncode == 0, pushed.stderr[-2000:]
        code = (
            "import torch; from miex.data.generators.ganimation.model import GANimationNetwork as G; "
            f"p = torch.load({str(tmp_path / 'probe.pt')!r}); m = G.from_pretrained('org/gan').eval(); "
            "print(torch.equal(m(p['faces'], p['aus'])[0], p['expected']))"
        )
        loaded = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert loaded.returncode == 0, loaded.stderr[-2000:]
        assert loaded.stdout.strip().endswith("True")
        assert "README.md" in hub.files("org/gan", "model")
