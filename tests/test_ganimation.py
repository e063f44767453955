"""GANimation: architecture, both published checkpoint layouts, our save format, training and exact resume."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from miex.core.errors import MiexInputError
from miex.data.generators import load_generator
from miex.data.generators.ganimation import (
    GANimationCriticNetwork,
    GANimationNetwork,
    count_parameters,
    load_critic_weights,
    load_generator_weights,
)
from miex.data.generators.ganimation.data import FaceAUDataset
from miex.data.generators.ganimation.train import GANimationTrainer, TrainConfig

# --- reference networks: the original nn.Sequential structures, written out independently of our module ---


class _OfficialResidual(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(dim, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(dim, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class OfficialGenerator(nn.Module):
    """GANimation's generator_wasserstein_gan.Generator layout: main.*, img_reg, attetion_reg."""

    def __init__(self, conv_dim: int = 64, c_dim: int = 17, repeat_num: int = 6) -> None:
        super().__init__()
        layers = [
            nn.Conv2d(3 + c_dim, conv_dim, 7, 1, 3, bias=False),
            nn.InstanceNorm2d(conv_dim, affine=True),
            nn.ReLU(inplace=True),
        ]
        dim = conv_dim
        for _ in range(2):
            layers += [
                nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False),
                nn.InstanceNorm2d(dim * 2, affine=True),
                nn.ReLU(inplace=True),
            ]
            dim *= 2
        layers += [_OfficialResidual(dim) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False),
                nn.InstanceNorm2d(dim // 2, affine=True),
                nn.ReLU(inplace=True),
            ]
            dim //= 2
        self.main = nn.Sequential(*layers)
        self.img_reg = nn.Sequential(nn.Conv2d(dim, 3, 7, 1, 3, bias=False), nn.Tanh())
        self.attetion_reg = nn.Sequential(nn.Conv2d(dim, 1, 7, 1, 3, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = c.unsqueeze(2).unsqueeze(3).expand(c.size(0), c.size(1), x.size(2), x.size(3))
        features = self.main(torch.cat([x, c], dim=1))
        return self.img_reg(features), self.attetion_reg(features)


class _ReplicateResnetBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(dim, dim, 3, padding=1, bias=True),
            nn.InstanceNorm2d(dim),
            nn.ReLU(True),
            nn.Conv2d(dim, dim, 3, padding=1, bias=True),
            nn.InstanceNorm2d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ReplicateGenerator(nn.Module):
    """ganimation_replicate's GANimationNetwork layout: model.*, color_top, au_top; plain norms, biased convs."""

    def __init__(self, ngf: int = 64, aus_nc: int = 17, n_blocks: int = 6) -> None:
        super().__init__()
        model = [nn.Conv2d(3 + aus_nc, ngf, 7, 1, 3, bias=True), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2**i
            model += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 4, 2, 1, bias=True),
                nn.InstanceNorm2d(ngf * mult * 2),
                nn.ReLU(True),
            ]
        model += [_ReplicateResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=True),
                nn.InstanceNorm2d(ngf * mult // 2),
                nn.ReLU(True),
            ]
        self.model = nn.Sequential(*model)
        self.color_top = nn.Sequential(nn.Conv2d(ngf, 3, 7, 1, 3, bias=False), nn.Tanh())
        self.au_top = nn.Sequential(nn.Conv2d(ngf, 1, 7, 1, 3, bias=False), nn.Sigmoid())

    def forward(self, img: torch.Tensor, au: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sparse = au.unsqueeze(2).unsqueeze(3).expand(au.size(0), au.size(1), img.size(2), img.size(3))
        features = self.model(torch.cat([img, sparse], dim=1))
        return self.color_top(features), self.au_top(features)


class ReferenceCritic(nn.Module):
    """Both critic layouts: official (main, conv1, conv2) or replicate (model, dis_top, aus_top)."""

    def __init__(self, layout: str, conv_dim: int = 64, c_dim: int = 17, repeat_num: int = 6, size: int = 128):
        super().__init__()
        layers = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01, inplace=True)]
        dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01, inplace=True)]
            dim *= 2
        self.names = ("main", "conv1", "conv2") if layout == "official" else ("model", "dis_top", "aus_top")
        setattr(self, self.names[0], nn.Sequential(*layers))
        setattr(self, self.names[1], nn.Conv2d(dim, 1, 3, 1, 1, bias=False))
        setattr(self, self.names[2], nn.Conv2d(dim, c_dim, size // 2**repeat_num, bias=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        trunk, real, aux = (getattr(self, name) for name in self.names)
        h = trunk(x)
        return real(h), aux(h).flatten(1)


def _randomize(module: nn.Module, seed: int) -> nn.Module:
    """Non-trivial affine norm parameters and biases, so a mis-mapped key changes the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1 + (parameter == 1).float())
    return module.eval()


def _inputs(size: int, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(batch, 3, size, size, generator=generator) * 2 - 1, torch.rand(batch, 17, generator=generator)


def test_parameter_count_matches_the_paper() -> None:
    assert 8.3e6 < count_parameters(GANimationNetwork()) < 8.7e6


@pytest.mark.parametrize(
    ("reference", "flags"),
    [
        (OfficialGenerator, {"norm_affine": True, "conv_bias": False}),
        (ReplicateGenerator, {"norm_affine": False, "conv_bias": True}),
    ],
)
def test_full_size_layouts_map_key_for_key(reference: type[nn.Module], flags: dict[str, bool]) -> None:
    from miex.data.generators.ganimation.checkpoints import to_native

    ours = GANimationNetwork(**flags).state_dict()
    theirs = to_native(reference().state_dict())
    assert list(theirs) == list(ours)
    assert all(theirs[key].shape == ours[key].shape for key in ours)


@pytest.mark.parametrize("reference", [OfficialGenerator, ReplicateGenerator])
@pytest.mark.parametrize("prefix", ["", "module."])
def test_published_generator_layouts_reproduce_the_original_output(
    reference: type[nn.Module], prefix: str, tmp_path: Path
) -> None:
    original = _randomize(reference(8, 17, 2), seed=3)
    path = tmp_path / "net_G.pth"
    torch.save({prefix + key: value for key, value in original.state_dict().items()}, path)
    ours = load_generator_weights(path, image_size=32).eval()
    images, conditioning = _inputs(32)
    with torch.no_grad():
        color, attention = original(images, conditioning)
        frame, mask = ours.animate(images, conditioning)
    torch.testing.assert_close(mask, attention, rtol=0, atol=1e-6)
    torch.testing.assert_close(frame, attention * images + (1 - attention) * color, rtol=0, atol=1e-6)
    # and the same network survives our own save format
    ours.save_pretrained(tmp_path / "native")
    assert (tmp_path / "native" / "model.safetensors").is_file()
    again = GANimationNetwork.from_pretrained(tmp_path / "native").eval()
    with torch.no_grad():
        torch.testing.assert_close(again.animate(images, conditioning)[0], frame, rtol=0, atol=0)


@pytest.mark.parametrize("layout", ["official", "replicate"])
def test_published_critic_layouts_reproduce_the_original_output(layout: str) -> None:
    original = _randomize(ReferenceCritic(layout, 8, 17, 5, 32), seed=4)
    ours = load_critic_weights(original.state_dict()).eval()
    assert isinstance(ours, GANimationCriticNetwork)
    images, _ = _inputs(32)
    with torch.no_grad():
        for got, want in zip(ours(images), original(images), strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_legacy_buffers_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    state = _randomize(OfficialGenerator(8, 17, 1), seed=5).state_dict()
    state["main.1.running_mean"] = torch.zeros(8)
    state["main.1.num_batches_tracked"] = torch.tensor(3)
    with caplog.at_level(logging.WARNING):
        load_generator_weights(state, image_size=32)
    assert "legacy" in caplog.text


def test_checkpoint_errors_name_the_problem(tmp_path: Path) -> None:
    state = OfficialGenerator(8, 17, 1).state_dict()
    state["img_reg.0.weight"] = torch.zeros(3, 8, 5, 5)
    with pytest.raises(MiexInputError, match=r"color_head\.0\.weight.*shape"):
        load_generator_weights(state)
    with pytest.raises(MiexInputError, match="not found"):
        load_generator_weights(tmp_path / "missing.pth")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(MiexInputError, match=r"model\.safetensors"):
        load_generator_weights(tmp_path / "half")
    with pytest.raises(MiexInputError, match="checkpoint"):
        load_generator("ganimation")


def test_pipeline_validates_faces_and_aus(tmp_path: Path) -> None:
    GANimationNetwork(width=8, num_residual_blocks=1, image_size=32).save_pretrained(tmp_path)
    pipeline = load_generator("ganimation", checkpoint=tmp_path, device="cpu")
    faces = torch.rand(2, 3, 32, 32)
    frames = pipeline(faces, np.zeros((2, 17)))
    assert frames.shape == faces.shape and frames.min() >= 0 and frames.max() <= 1
    assert pipeline.config["architecture"]["width"] == 8
    with pytest.raises(MiexInputError, match="32 x 32"):
        pipeline(torch.rand(2, 3, 64, 64), np.zeros((2, 17)))
    with pytest.raises(MiexInputError, match="N x 3 x H x W"):
        pipeline(torch.rand(2, 1, 32, 32), np.zeros((2, 17)))
    with pytest.raises(MiexInputError, match="17 AU"):
        pipeline(faces, np.zeros((2, 12)))
    with pytest.raises(MiexInputError, match="0 to 5"):
        pipeline(faces, np.full((2, 17), 7.0))


# --- training ---


def _synthetic_faces(root: Path, count: int = 16, size: int = 32) -> FaceAUDataset:
    """Faces whose 4x4 patch brightness encodes the first 16 AUs, so a critic can learn to read them."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    paths, aus = [], []
    cell = size // 4
    for i in range(count):
        vector = rng.uniform(0, 5, 17).astype(np.float32)
        image = np.ones((size, size, 3)) * rng.uniform(0.3, 0.7, 3)
        for k in range(16):
            y, x = divmod(k, 4)
            image[y * cell : (y + 1) * cell, x * cell : (x + 1) * cell] += (vector[k] / 5 - 0.5) * 0.4
        path = root / f"face{i:02d}.png"
        Image.fromarray((image.clip(0, 1) * 255).astype(np.uint8)).save(path)
        paths.append(path)
        aus.append(vector)
    return FaceAUDataset(paths, np.stack(aus), size)


def _tiny_config(tmp_path: Path, **overrides: object) -> TrainConfig:
    """The paper's training code at a narrow width on 32x32 faces (what fits a CPU test)."""
    settings = {
        "data": str(tmp_path / "faces"),
        "output_dir": str(tmp_path / "run"),
        "image_size": 32,
        "width": 8,
        "residual_blocks": 1,
        "critic_width": 8,
        "critic_layers": 5,
        "batch_size": 8,
        "critic_steps": 1,
        "lr": 1e-3,
        "au_weight": 40.0,
        "max_steps": 200,
        "save_every": 10**6,
        "sample_every": 0,
        "log_every": 50,
    } | overrides
    return TrainConfig(**settings)


def _mean(history: list[dict[str, float]], key: str, part: slice) -> float:
    values = [logs[key] for logs in history if key in logs]
    return float(np.mean(values[part]))


@pytest.mark.slow
def test_tiny_training_lowers_au_and_cycle_losses(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    dataset = _synthetic_faces(tmp_path / "faces")
    trainer = GANimationTrainer(_tiny_config(tmp_path, sample_every=200), dataset)
    history = trainer.train()
    first, last = slice(0, 40), slice(-40, None)
    assert _mean(history, "critic_au", last) < 0.6 * _mean(history, "critic_au", first)  # the critic reads the AUs
    assert _mean(history, "generator_au", last) < 0.85 * _mean(history, "generator_au", first)
    assert _mean(history, "cycle", last) < 0.6 * _mean(history, "cycle", first)
    assert list((tmp_path / "run" / "samples").glob("*.png"))
    folder = trainer.save_pretrained()
    pipeline = load_generator("ganimation", checkpoint=folder, device="cpu")
    assert pipeline(torch.rand(1, 3, 32, 32), np.ones((1, 17))).shape == (1, 3, 32, 32)


def test_resume_reproduces_the_uninterrupted_run(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    dataset = _synthetic_faces(tmp_path / "faces")
    config = _tiny_config(tmp_path, max_steps=6, save_every=3, critic_steps=2)
    uninterrupted = GANimationTrainer(config, dataset).train()
    latest = GANimationTrainer(_tiny_config(tmp_path, max_steps=6, critic_steps=2, resume="latest"), dataset)
    assert latest.state.step == 6
    # resume from the mid-run checkpoint, as a run killed after step 3 would
    resumed = GANimationTrainer(
        _tiny_config(
            tmp_path,
            max_steps=6,
            save_every=10**6,
            critic_steps=2,
            resume=str(tmp_path / "run" / "checkpoints" / "step_3"),
        ),
        dataset,
    )
    assert resumed.state.step == 3
    assert resumed.train() == uninterrupted[3:]


def test_training_reads_the_ganimation_layout(tmp_path: Path) -> None:
    from miex.data.aus import write_ganimation_aus, write_ganimation_ids
    from miex.data.generators.ganimation.data import from_ganimation_layout

    dataset = _synthetic_faces(tmp_path / "imgs", count=4)
    write_ganimation_aus(
        {p.stem: a for p, a in zip(dataset.paths, dataset.aus, strict=True)}, tmp_path / "aus_openface.pkl"
    )
    write_ganimation_ids([p.name for p in dataset.paths], tmp_path / "train_ids.csv")
    loaded = from_ganimation_layout(tmp_path, image_size=32)
    np.testing.assert_allclose(loaded.aus, dataset.aus, atol=1e-6)
    image, conditioning = loaded[0]
    assert image.shape == (3, 32, 32) and image.min() >= -1 and image.max() <= 1 and conditioning.max() <= 1


def test_training_reads_a_face_folder_with_an_au_table(tmp_path: Path) -> None:
    import pandas as pd

    from miex.data.aus import AU_NAMES, write_au_table
    from miex.data.generators.ganimation.data import from_face_folder

    dataset = _synthetic_faces(tmp_path / "faces", count=3)
    rows = pd.DataFrame(dataset.aus, columns=list(AU_NAMES))
    rows.insert(0, "path", [f"/elsewhere/{p.name}" for p in dataset.paths])  # matched by file name
    write_au_table(rows.iloc[::-1], tmp_path / "aus.parquet")
    loaded = from_face_folder(tmp_path / "faces", tmp_path / "aus.parquet", image_size=32)
    np.testing.assert_allclose(loaded.aus, dataset.aus, atol=1e-6)
    write_au_table(rows.iloc[:2], tmp_path / "short.parquet")
    with pytest.raises(MiexInputError, match=r"face02\.png"):
        from_face_folder(tmp_path / "faces", tmp_path / "short.parquet")


def test_every_train_generator_option_is_explained_in_help() -> None:
    import argparse

    from miex.data.generators.ganimation.train import configure

    parser = argparse.ArgumentParser()
    configure(parser)
    silent = [action.dest for action in parser._actions if action.dest != "help" and not action.help]
    assert silent == []
