"""Flow recognizers train on flow images: from a flow-image clip table through recipes, from datasets through the
API; tensors in memory, folds in parallel processes, the fold filter intact, the same predictions in any process."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
import yaml
from flow_fixtures import composite_clips, flow_pattern, write_flat
from hypothesis import given, settings
from hypothesis import strategies as st
from miex_fixtures import TORCHRUN_TWO_RANKS
from PIL import Image

import miex
from miex.core.errors import MiexInputError
from miex.core.schedule import stable_steps, stable_then_linear
from miex.data.corpora import READERS, clips_to_frame
from miex.data.corpora.clips import FLOW_IMAGES, write_clip_table
from miex.train.models import create_model
from miex.train.runner import run as run_recipe
from miex.train.runner.recipe import load_recipe
from miex.train.runner.specs import TrainingSpec
from miex.train.runner.tensor_stage import batch_bounds, train_on_tensors

QUICK = {
    "epochs": 25,
    "decay_epochs": 5,
    "learning_rate": 5.0e-3,
    "batch_size": 8,
    "max_grad_norm": 0,
    "weight_decay": 0,
}


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A flow-image clip table of 6 subjects x 3 clips (flat release with the space in the names)."""
    root = tmp_path_factory.mktemp("flows")
    labels = write_flat(root / "release", composite_clips(per_subject=3))
    corpus = READERS["flow-images"](root / "release", labels=labels)
    return write_clip_table(clips_to_frame(corpus.clips), root / "flows.parquet", holds=FLOW_IMAGES)


def write_miex(folder: Path, subjects: list[tuple[str, str]], *, per_subject: int = 4) -> Path:
    """A MiE-X folder (save_to_disk) of 'mie' pairs derived from ``subjects``: onset and apex are textures whose
    apex moves where the class's flow pattern says, so their flow images carry the class."""
    rng = np.random.default_rng(0)
    rows: dict[str, list] = {
        k: [] for k in ("onset", "apex", "label", "source", "source_dataset", "source_subject", "source_clip")
    }
    for dataset, subject in subjects:
        for n in range(per_subject):
            label = n % 3
            onset = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            apex = onset.copy()
            y, x = {0: (16, 32), 1: (44, 16), 2: (44, 48)}[label]
            apex[y - 6 : y + 6, x - 6 : x + 6] = np.roll(onset[y - 6 : y + 6, x - 6 : x + 6], 2, axis=1)
            rows["onset"].append(Image.fromarray(onset))
            rows["apex"].append(Image.fromarray(apex))
            rows["label"].append(label)
            rows["source"].append(0)
            rows["source_dataset"].append(dataset)
            rows["source_subject"].append(subject)
            rows["source_clip"].append(f"c{n}")
    features = datasets.Features(
        {
            "onset": datasets.Image(),
            "apex": datasets.Image(),
            "label": datasets.ClassLabel(names=["negative", "positive", "surprise"]),
            "source": datasets.ClassLabel(names=["mie", "mae", "expert"]),
            "source_dataset": datasets.Value("string"),
            "source_subject": datasets.Value("string"),
            "source_clip": datasets.Value("string"),
        }
    )
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(folder))
    return folder


def recipe(tmp_path: Path, flows: Path, **sections: object) -> Path:
    raw = {
        "name": "flows",
        "model": {"name": "ststnet"},
        "data": {"real": {"clips": str(flows)}},
        "protocol": {"kind": "loso", "workers": 1},
        "training": QUICK,
        "seeds": [0],
        "output": {"dir": str(tmp_path / "run"), "final_model": False},
    }
    for key, value in sections.items():
        raw[key] = value if not isinstance(value, dict) else {**raw.get(key, {}), **value}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(autouse=True)
def flow_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MIEX_FLOW_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_ststnet_learns_loso_on_a_flow_image_table_in_any_number_of_processes(tmp_path: Path, flows: Path) -> None:
    payloads, logs = [], []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        path = recipe(out, flows, protocol={"workers": workers})
        payloads.append(run_recipe(load_recipe(path), progress=False))
        logs.append((out / "run" / "predictions" / "seed-0.csv").read_text())
    assert logs[0] == logs[1]  # the same predictions whatever the number of processes
    payload = payloads[0]
    assert payload["protocol"]["folds"] == 6 and payload["protocol"]["folds_defined"] == 6
    assert payload["last_epoch"]["all"]["num_samples"] == 18
    assert payload["last_epoch"]["all"]["uf1"]["mean"] > 0.8  # the class sits where the flow moves
    assert "min-max scaled" in payload["inputs"]["representation"]


def test_max_folds_runs_a_smoke_subset_and_says_so(tmp_path: Path, flows: Path) -> None:
    path = recipe(
        tmp_path,
        flows,
        protocol={"max_folds": 2},
        output={"final_model": True},
        training={"epochs": 2},
        reproduces={
            "paper": "MEGC2019 composite flow release",
            "row": "STSTNet",
            "protocol": "LOSO",
            "datasets": ["casme2", "samm", "smic"],
            "scores": "0.7353 / 0.7186",
            "tested": {"casme2": {"clips": 145, "subjects": 24}, "samm": {"clips": 133}, "smic": {"clips": 164}},
            "epochs": 500,
            "input": "flow-images",
        },
    )
    payload = run_recipe(load_recipe(path), progress=False)
    assert payload["protocol"]["folds"] == 2 and payload["protocol"]["folds_defined"] == 6
    assert payload["last_epoch"]["all"]["num_samples"] == 6 and payload["real_clips"] == 18
    results = json.loads((tmp_path / "run" / "results.json").read_text())  # what ran, as results.json records it
    assert results["tested"] == {"casme2": {"clips": 6, "subjects": 2}, "all": {"clips": 6, "subjects": 2}}
    assert results["real_subjects"] == 6 and results["real_input"] == "flow-images" and results["miex"] is None
    assert results["initialisation"] == {"backbone": None, "weights": "random"} and results["seeds"] == [0]
    (stage,) = results["stages"]
    assert stage["total_epochs"] == 7 and stage["training_samples_per_fold"] == {"min": 15, "max": 15}
    card = (tmp_path / "run" / "model" / "README.md").read_text()
    assert "18 labelled clips, 6 of them (CASME II) tested in the 2 of 6 folds run" in card
    assert "it ran 2 of the protocol's 6 folds" in card and "This run reproduces" not in card
    assert "tested on CASME II, 6 clips of 2 subjects, by leave-one-subject-out, 2 of its 6 folds run," in card
    paper = "442 clips (CASME II 145 of 24, SAMM 133, SMIC 164)"  # SAMM's and SMIC's subjects left unpublished
    assert f"it tested 6 clips of 2 subjects where the paper tested {paper}" in card
    assert "it trained 7 epochs where the paper trained 500" in card
    assert "**Published figure.** STSTNet (Liong et al., FG 2019): 0.7353 / 0.7186" in card
    assert "# STSTNet on CASME II (LOSO, 2 of 6 folds, 3 classes)" in card


def test_miex_pretraining_drops_every_sample_of_the_test_subject(tmp_path: Path, flows: Path) -> None:
    miex_dir = write_miex(tmp_path / "miex", [("casme2", "sub01"), ("samm", "006"), ("smic", "s01")])
    stages = [
        {"name": "pretrain", "train": ["miex"], "epochs": 3, "decay_epochs": 0},
        {"name": "finetune", "train": ["real"]},
    ]
    path = recipe(tmp_path, flows, data={"miex": str(miex_dir)}, stages=stages)
    run_recipe(load_recipe(path), progress=False)
    curves = json.loads((tmp_path / "run" / "curves.json").read_text())
    assert set(curves) == {
        f"seed-0/{d}/{s}"
        for d, s in [
            ("casme2", "sub01"),
            ("casme2", "sub02"),
            ("samm", "006"),
            ("samm", "007"),
            ("smic", "s01"),
            ("smic", "s02"),
        ]
    }
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    counts = {fold["name"]: fold["train_counts"]["pretrain"]["miex"] for fold in results["runs"][0]["folds"]}
    assert counts["casme2/sub01"] == {"used": 8, "removed": 4}  # sub01's four samples never trained on
    assert counts["casme2/sub02"] == {"used": 12, "removed": 0}
    size = {"samples": 12, "identities": None, "sources": {"mie": 12}}  # this MiE-X has no `identity` column
    assert results["miex"] == {"path": str(miex_dir), "split": "train", "frames_per_sample": 2, **size}
    pretrain, finetune = results["stages"]
    assert pretrain["miex"] == size and "miex" not in finetune  # the MiE-X each stage trained on
    assert pretrain["total_epochs"] == 3 and pretrain["training_samples_per_fold"] == {"min": 8, "max": 12}


def test_a_frame_recognizer_refuses_a_flow_image_table(tmp_path: Path, flows: Path) -> None:
    path = recipe(tmp_path, flows, model={"name": "branches"})
    with pytest.raises(MiexInputError, match="holds flow images, which branches cannot read"):
        run_recipe(load_recipe(path), check=True)


def test_train_recognizer_reads_pixel_values_and_computes_pairs_once(tmp_path: Path, flow_cache: Path) -> None:
    rng = np.random.default_rng(1)
    labels = [n % 3 for n in range(24)]
    names = datasets.ClassLabel(names=["negative", "positive", "surprise"])
    images = datasets.Dataset.from_dict(
        {"pixel_values": [flow_pattern(k, rng) for k in labels], "label": labels},
        features=datasets.Features({"pixel_values": datasets.Image(), "label": names}),
    )
    result = miex.train_recognizer(
        images,
        images,
        model="offapexnet",
        epochs=30,
        decay_epochs=0,
        batch_size=8,
        learning_rate=1e-3,
        max_grad_norm=0.5,
    )
    assert result.scores["uf1"] > 0.8 and len(result.history) == 30 and "grad_norm" in result.history[0]
    miex_dir = write_miex(tmp_path / "miex", [("casme2", "sub01")], per_subject=6)
    pairs = datasets.load_from_disk(str(miex_dir))
    miex.train_recognizer(pairs, model="ststnet", epochs=1, decay_epochs=0, batch_size=4, flow_method="farneback")
    entries = sorted(flow_cache.rglob("*.npy"))
    assert len(entries) == 6
    stamps = [p.stat().st_mtime_ns for p in entries]
    miex.train_recognizer(pairs, model="ststnet", epochs=1, decay_epochs=0, batch_size=4, flow_method="farneback")
    assert [p.stat().st_mtime_ns for p in sorted(flow_cache.rglob("*.npy"))] == stamps  # read, not recomputed


def test_train_recognizer_names_a_dataset_without_flow_input() -> None:
    features = datasets.Features({"x": datasets.Value("int32"), "label": datasets.ClassLabel(names=["a", "b"])})
    table = datasets.Dataset.from_dict({"x": [1, 2], "label": [0, 1]}, features=features)
    with pytest.raises(MiexInputError, match="'pixel_values' \\(flow images\\) or 'onset' \\+ 'apex'"):
        miex.train_recognizer(table, model="ststnet")


# ----------------------------------------------------------------------------------------------------------------
# the loop itself


@settings(max_examples=60, deadline=None)
@given(count=st.integers(1, 300), batch=st.integers(1, 64))
def test_batches_cover_every_row_once_and_never_leave_one_alone(count: int, batch: int) -> None:
    bounds = batch_bounds(count, batch)
    covered = [i for start, stop in bounds for i in range(start, stop)]
    assert covered == list(range(count))
    assert all(stop - start >= 2 for start, stop in bounds) or count == 1 or batch == 1
    assert all(stop - start <= batch + 1 for start, stop in bounds)


def test_the_loop_follows_the_stage_schedule_and_is_seeded() -> None:
    spec = TrainingSpec(epochs=3, decay_epochs=2, learning_rate=1e-2, batch_size=5, max_grad_norm=1.0)
    inputs = torch.rand(12, 3, 28, 28) * 255
    labels = torch.tensor([0, 1, 2] * 4)
    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        model = create_model("ststnet")
        history = train_on_tensors(model, inputs, labels, spec, seed=7)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])
    steps = len(batch_bounds(12, 5))
    stable = stable_steps(steps * 5, 3, 5)
    expected = [1e-2 * stable_then_linear(epoch * steps, stable=stable, total=steps * 5) for epoch in range(5)]
    assert [h["learning_rate"] for h in history] == pytest.approx(expected)
    assert all(h["grad_norm"] >= 0 for h in history)


def test_the_on_the_fly_transform_gives_the_cached_paths_tensor(tmp_path: Path) -> None:
    """The app's classifier and other users of `model_inputs` see exactly what training on cached images saw."""
    from miex.data.faces.flow import FlowParams
    from miex.train.data import model_inputs
    from miex.train.flow_inputs import dataset_flow_images, model_tensor
    from miex.train.models import create_config
    from miex.train.runner.checks import FlowFunction

    pairs = datasets.load_from_disk(str(write_miex(tmp_path / "miex", [("casme2", "sub01")], per_subject=3)))
    for name in ("ststnet", "offapexnet"):
        config = create_config(name)
        spec = config.input_spec()
        cached = model_tensor(dataset_flow_images(pairs, FlowParams(method="farneback")), spec, spec.flow_size)
        live = pairs.with_transform(model_inputs(config, train=False, flow_fn=FlowFunction("farneback")))
        for row in range(len(pairs)):
            assert torch.equal(live[row]["pixel_values"], cached[row])


@pytest.mark.slow
def test_two_torchrun_ranks_predict_what_one_process_predicts(tmp_path: Path, flows: Path) -> None:
    """2 CPU ranks (gloo) split the folds between them and gather the same predictions as a single process."""
    import os
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    single = recipe(tmp_path / "one", flows)
    run_recipe(load_recipe(single), progress=False)
    ranks = recipe(tmp_path / "two", flows)
    command = [
        *TORCHRUN_TWO_RANKS,
        str(repo / "train.py"),
        "--recipe",
        str(ranks),
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MIEX_FLOW_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(repo / "src"), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((tmp_path / "two" / "run" / "results.json").read_text())
    assert results["world_size"] == 2 and results["protocol"]["folds"] == 6
    one, two = ((tmp_path / name / "run" / "predictions" / "seed-0.csv").read_text() for name in ("one", "two"))
    assert one == two
