"""Recipe runner: recipe schema, checks before training, pooled results, logs, card, Hub push, 2-rank torchrun.

Everything runs on real-format fixtures: a mini MEGC2019 composite (9 subjects of CASME II, SAMM and SMIC) and CK+
read by ``miex corpus``, and a tiny MiE-X folder in the synthesis schema (``miex_fixtures``). Models are scaled-down
Branches (ResNet widths 4, one block per stage) on 64² crops, so the same code as the paper's runs trains in seconds.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import corpus_fixtures as cf
import datasets
import miex_fixtures as mf
import numpy as np
import pytest
import yaml
from hub_server import serve_hub
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results
from miex_fixtures import TORCHRUN_TWO_RANKS
from sklearn.metrics import f1_score, recall_score

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.train.runner import load_recipe, parse_recipe, run
from miex.train.runner.outputs import FoldResult, megc_log, summarize
from miex.train.runner.recipe import apply_overrides, shipped_recipes
from miex.train.runner.stages import stable_then_linear

REPO = Path(__file__).resolve().parents[1]
TINY_BRANCHES = {
    "encoder": {"hidden_sizes": [4, 4, 4, 4], "depths": [1, 1, 1, 1], "embedding_size": 4},
    "head_hidden": [8],
}
MIE_SUBJECTS = [("casme2", "sub01"), ("samm", "006"), ("smic", "s2")]
EMOTIONS = {
    "casme2": [("disgust", 0), ("happiness", 1), ("surprise", 2)],
    "samm": [("Anger", 0), ("Happiness", 1), ("Surprise", 2)],
    "smic": [("negative", 0), ("positive", 1), ("surprise", 2)],
}


def composite_clips() -> list[cf.CompositeClip]:
    """3 datasets x 3 subjects x one clip per class (27 clips)."""
    subjects = {"casme2": [1, 2, 3], "samm": [6, 7, 8], "smic": [1, 2, 3]}
    clips = []
    for dataset, numbers in subjects.items():
        for subject in numbers:
            for index, (emotion, label) in enumerate(EMOTIONS[dataset]):
                name = {
                    "casme2": f"EP{subject:02d}_{index:02d}",
                    "samm": f"{subject:03d}_{index}_1",
                    "smic": f"s{subject}_{emotion[:2]}_{index:02d}",
                }[dataset]
                clips.append(cf.CompositeClip(dataset, subject, name, emotion, label))
    return clips


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clip tables written by ``miex corpus`` from real-format trees, and a MiE-X folder (read-only: built once per
    session and shared with tests/test_robust_train.py)."""
    root = tmp_path_factory.mktemp("runner_data")
    megc = cf.build_composite(root / "megc", composite_clips())
    ckplus = cf.build_ckplus(root / "CK+")
    assert main(["corpus", "megc2019", str(megc), "--out", str(root / "compmie.parquet")]) == 0
    assert main(["corpus", "ckplus", str(ckplus), "--out", str(root / "ckplus.parquet")]) == 0
    mf.build_miex(root / "miex", MIE_SUBJECTS, size=32)
    mf.build_miex(root / "miex_old", MIE_SUBJECTS, size=32, drop=("source", "source_dataset", "source_subject"))
    mf.build_miex(root / "miex_renamed", [("casme2", "01")], size=32)  # subject named unlike the clip table
    return {
        "clips": root / "compmie.parquet",
        "ckplus": root / "ckplus.parquet",
        "miex": root / "miex",
        "miex_old": root / "miex_old",
        "miex_renamed": root / "miex_renamed",
        "root": root,
    }


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``load_dataset`` caches under a temporary folder, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "hf_datasets_cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


def tiny(data: dict[str, Path], out: Path, **changes: Any) -> dict[str, Any]:
    """A scaled-down recipe: same code paths, seconds to run."""
    recipe: dict[str, Any] = {
        "name": "tiny",
        "model": {"name": "branches", "config": TINY_BRANCHES},
        "data": {
            "real": {"clips": str(data["clips"]), "name": "Mini CompMiE", "alignment": "none"},  # 8 px frames, no face
            "miex": str(data["miex"]),
            "image": {"resize": 72, "crop_size": 64},  # > 1x1 maps at the last stage (BatchNorm)
        },
        "protocol": {"kind": "kfold", "k": 3, "seed": 0},
        "training": {"epochs": 1, "decay_epochs": 0, "batch_size": 4, "eval_batch_size": 8, "num_workers": 0},
        "stages": [{"name": "pretrain", "train": ["miex"]}, {"name": "finetune", "train": ["real"]}],
        "seeds": [0],
        "output": {"dir": str(out)},
    }
    for key, value in changes.items():
        recipe = apply_overrides(recipe, [f"{key}={json.dumps(value)}"])
    return recipe


def write_recipe(path: Path, recipe: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------------------
# recipes


def test_defaults_are_the_papers(data: dict[str, Path], tmp_path: Path) -> None:
    recipe = parse_recipe(
        {"model": {"name": "branches"}, "data": {"real": {"clips": "c.parquet"}}, "protocol": {"kind": "loso"}},
        file=tmp_path / "r.yaml",
    )
    spec = recipe.stages[0].training
    assert (spec.learning_rate, spec.weight_decay, spec.max_grad_norm, spec.batch_size) == (1e-4, 5e-4, 1.0, 64)
    assert (spec.optimizer, spec.epochs, spec.decay_epochs) == ("adam", 10, 10)
    assert (recipe.data.resize, recipe.data.crop_size) == (256, 224)
    assert recipe.name == "r" and recipe.stages[0].train == ("real",) and recipe.seeds == (0,)
    assert [stable_then_linear(s, stable=10, total=20) for s in (0, 9, 10, 15, 20)] == [1.0, 1.0, 1.0, 0.5, 0.0]


def test_shipped_recipes_are_valid() -> None:
    files = shipped_recipes()
    assert "table1_branches_miex_finetune" in files  # named in `miex --help`
    assert {"table2_branches_mmew_miex", "table2_branches_samm", "megc2019_loso_branches"} <= set(files)
    assert sorted(p.name for p in (REPO / "recipes").glob("*.yaml")) == sorted(p.name for p in files.values())
    for file in files.values():
        recipe = load_recipe(file)
        assert recipe.seeds == (0, 1, 2) and recipe.output.dir == Path("runs") / recipe.name
        if recipe.reproduces is None:  # no published figure for this setup: none is quoted
            tests_on_miex = recipe.data.real.held_out != "identity"  # miex_heldout_samples: MiE-X alone, data-free
            assert "miex" in recipe.data.sources() or tests_on_miex, recipe.name
            continue
        assert recipe.reproduces.protocol == recipe.protocol.short()


def test_overrides() -> None:
    raw = {"training": {"epochs": 10}, "stages": [{"name": "a", "train": ["real"]}]}
    changed = apply_overrides(raw, ["training.epochs=1", "stages.0.batch_size=8", "seeds=[1, 2]"])
    assert changed == {
        "training": {"epochs": 1},
        "stages": [{"name": "a", "train": ["real"], "batch_size": 8}],
        "seeds": [1, 2],
    }
    assert raw["training"]["epochs"] == 10
    with pytest.raises(MiexInputError, match=r"KEY\.PATH=VALUE"):
        apply_overrides(raw, ["training.epochs"])
    with pytest.raises(MiexInputError, match="not an index"):
        apply_overrides(raw, ["stages.3.epochs=1"])


# --------------------------------------------------------------------------------------------------------------
# bad input: clear errors before any training starts


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("training started although the input is bad")

    monkeypatch.setattr(importlib.import_module("miex.train.runner.run"), "train_stage", refuse)


BAD_RECIPES = [
    ({"trainig.epochs": 1}, r"unknown key 'trainig' \(did you mean 'training'\?\)"),
    ({"stages.1.learning_rat": 0.1}, r"field 'stages\[1\].learning_rat'.*did you mean 'learning_rate'"),
    ({"model.name": "brnches"}, r"unknown model 'brnches' \(did you mean 'branches'\?\)"),
    ({"model.config.hidden": 3}, r"unknown branches config key\(s\) \['hidden'\]"),
    ({"model.config.head_hidden": "wide"}, r"field 'model.config': cannot build branches from model.config"),
    ({"model.name": "dtscnn", "model.config": {}}, r"needs the 10-frame MiE-X: make it with `miex synthesize --video`"),
    ({"stages.1.train": ["real", "ckplus"]}, r"unknown data source 'ckplus'.*data.extra"),
    ({"protocol.kind": "kfold", "protocol.k": 1}, "k-fold needs k >= 2"),
    ({"training.optimizer": "sgd"}, "'sgd' is not one of adam, adamw"),
    (
        {"data.real.labels": ["happiness", "surprise", "disgust"], "stages": [{"name": "only", "train": ["miex"]}]},
        r"label space mismatch: the last stage 'only' trains on classes \['negative', 'positive', 'surprise'\] but "
        r"the test corpus has \['happiness', 'surprise', 'disgust'\]",
    ),
    (
        {
            "data.real.labels": ["happiness", "surprise", "disgust"],
            "stages": [{"name": "mixed", "train": ["miex", "real"]}],
        },
        "label space mismatch in stage 'mixed'",
    ),
    ({"data.real.labels": ["happiness", "sadnes"]}, r"no clip has emotion\(s\) \['sadnes'\]"),
    ({"data.miex": "MIEX_OLD"}, r"MiE-X lacks provenance column\(s\) \['source', 'source_dataset', 'source_subject'\]"),
    ({"data.miex": "MIEX_RENAMED"}, r"name subjects \[\('casme2', '01'\)\] that the casme2 clip table does not have"),
    ({"protocol.kind": "loso", "protocol.k": 3}, "k applies to kind: kfold only"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_RECIPES)
def test_bad_recipes_fail_before_training(
    data: dict[str, Path], tmp_path: Path, no_training: None, changes: dict[str, Any], message: str
) -> None:
    changes = {k: str(data[v.lower()]) if v in ("MIEX_OLD", "MIEX_RENAMED") else v for k, v in changes.items()}
    with pytest.raises(MiexInputError, match=message):
        run(parse_recipe(tiny(data, tmp_path / "out", **changes), file=tmp_path / "r.yaml"))
    assert not (tmp_path / "out").exists()


def test_fold_without_test_samples(data: dict[str, Path], tmp_path: Path, no_training: None) -> None:
    folds = {
        "format": "miex.folds/1",
        "protocol": "file",
        "seed": None,
        "folds": [
            {"name": "good", "train_subjects": [["casme2", "sub02"]], "test_subjects": [["casme2", "sub01"]]},
            {"name": "empty", "train_subjects": [["casme2", "sub02"]], "test_subjects": [["casme2", "sub99"]]},
        ],
    }
    (tmp_path / "folds.json").write_text(json.dumps(folds))
    recipe = tiny(data, tmp_path / "out", **{"protocol": {"kind": "file", "file": str(tmp_path / "folds.json")}})
    with pytest.raises(MiexInputError, match=r"fold 'empty' has no test samples.*\('casme2', 'sub99'\)"):
        run(parse_recipe(recipe))


def test_existing_output_needs_overwrite(data: dict[str, Path], tmp_path: Path, no_training: None) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.json").write_text("{}")
    with pytest.raises(MiexInputError, match="--overwrite"):
        run(parse_recipe(tiny(data, tmp_path / "out")))


def test_cli_reports_errors_and_checks(
    data: dict[str, Path], tmp_path: Path, no_training: None, capsys: pytest.CaptureFixture
) -> None:
    assert main(["train", "--recipe", str(tmp_path / "missing.yaml")]) == 2
    assert "recipe file not found" in capsys.readouterr().err
    recipe = write_recipe(tmp_path / "r.yaml", tiny(data, tmp_path / "out"))
    assert main(["train", "--recipe", str(recipe), "--set", "model.name=resnet"]) == 2
    assert "unknown model 'resnet'" in capsys.readouterr().err
    assert main(["train", "--recipe", str(recipe), "--check"]) == 0
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "torchrun --standalone --nproc_per_node 2 -m miex train --recipe" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------------------
# scores and logs


def fold_result(seed: int, name: str, datasets_: list[str], truth: list[int], last: list[int]) -> FoldResult:
    n = len(truth)
    return FoldResult(
        seed=seed,
        fold=name,
        test_subjects=sorted({(d, f"s{name}") for d in datasets_}),
        datasets=datasets_,
        subjects=[f"s{name}"] * n,
        clips=[f"{name}_{i}" for i in range(n)],
        truth=np.array(truth),
        last=np.array(last),
    )


def test_summary_pools_folds_before_scoring() -> None:
    first = ["x", "x", "y"]
    folds = {
        0: [fold_result(0, "a", first, [0, 1, 2], [0, 1, 1]), fold_result(0, "b", ["y", "y"], [2, 2], [2, 0])],
        1: [fold_result(1, "a", first, [0, 1, 2], [0, 0, 2]), fold_result(1, "b", ["y", "y"], [2, 2], [2, 2])],
    }
    summary = summarize([r for rs in folds.values() for r in rs], [0, 1], ["n", "p", "s"], "exclude")
    expected = []
    for seed, results in folds.items():
        truth = np.concatenate([r.truth for r in results])
        pred = np.concatenate([r.last for r in results])
        expected.append(f1_score(truth, pred, average="macro"))
        assert summary["runs"][seed]["last_epoch"]["all"]["uar"] == pytest.approx(
            recall_score(truth, pred, average="macro")
        )
        y = np.array([d for r in results for d in r.datasets]) == "y"
        assert summary["runs"][seed]["last_epoch"]["y"]["uf1"] == pytest.approx(
            f1_score(truth[y], pred[y], average="macro")
        )
    assert summary["last_epoch"]["all"]["uf1"]["mean"] == pytest.approx(np.mean(expected))
    assert summary["last_epoch"]["all"]["uf1"]["std"] == pytest.approx(np.std(expected, ddof=1))
    assert summary["best_on_validation"] is None and "LAST epoch" in summary["last_epoch"]["note"]
    assert megc_log(folds[0]).splitlines()[:3] == ["x sa", "a_0 0 0", "a_1 1 1"]


# --------------------------------------------------------------------------------------------------------------
# whole runs


@pytest.mark.slow
def test_in_process_run_native_labels_validation_and_push(
    data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MiE-X (3 classes) -> CK+ early frames -> fine-tune on native labels: new head, 2 seeds, validation split."""
    pushed: list[tuple] = []
    hub = types.ModuleType("miex.data.hub")
    hub.__spec__ = importlib.machinery.ModuleSpec("miex.data.hub", None)
    hub.push_folder = lambda folder, repo_id, **kw: pushed.append((Path(folder), repo_id, kw)) or "https://hub/x"
    monkeypatch.setitem(sys.modules, "miex.data.hub", hub)
    out = tmp_path / "out"
    recipe = tiny(
        data,
        out,
        **{
            "data.real.labels": ["happiness", "surprise", "disgust", "anger"],
            "data.extra": {"ckplus": {"clips": str(data["ckplus"]), "frames": "early", "alignment": "none"}},
            "stages": [
                {"name": "pretrain", "train": ["miex"]},
                {"name": "ckplus", "train": ["ckplus"]},
                {"name": "finetune", "train": ["real"], "decay_epochs": 1},
            ],
            "protocol.validation": {"fraction": 0.5},
            "seeds": [3, 4],
        },
    )
    results = run(parse_recipe(recipe), push_to_hub_repo="org/tiny", private=True)
    assert results["label_names"] == ["happiness", "surprise", "disgust", "anger"]
    assert results["last_epoch"]["all"]["num_samples"] == 21  # SMIC negative/positive clips: outside the space
    assert len(results["last_epoch"]["all"]["uf1"]["runs"]) == 2
    assert results["best_on_validation"]["note"].startswith("weights of the epoch with the best UF1 on a VALIDATION")
    for fold in results["runs"][0]["folds"]:
        held = {tuple(s) for s in results["protocol"]["validation_subjects"][fold["name"]]}
        saved = json.loads((out / "folds.json").read_text())["folds"]
        held |= {tuple(s) for f in saved if f["name"] == fold["name"] for s in f["test_subjects"]}
        leaking = sum(2 for s in MIE_SUBJECTS if s in held)  # 2 mie samples per subject in the fixture
        assert fold["train_counts"]["pretrain"]["miex"] == {"used": 18 - leaking, "removed": leaking}
    csv = (out / "predictions" / "seed-3.csv").read_text().splitlines()
    assert csv[0].endswith("prediction_best_on_validation") and len(csv) == 22
    assert json.loads((out / "model" / "config.json").read_text())["id2label"]["3"] == "anger"
    assert pushed == [
        (
            out / "model",
            "org/tiny",
            {"repo_type": "model", "private": True, "token": None, "commit_message": "miex train: model"},
        )
    ]


@pytest.mark.slow
def test_torchrun_two_ranks_end_to_end(data: dict[str, Path], tmp_path: Path) -> None:
    """2 CPU ranks (gloo) run a recipe, write logs, results and card, and push model + card to a loopback Hub."""
    out = tmp_path / "run"
    recipe = write_recipe(tmp_path / "tiny.yaml", tiny(data, out))
    command = [
        *TORCHRUN_TWO_RANKS,
        str(REPO / "train.py"),
        "--recipe",
        str(recipe),
        "--push-to-hub",
        "org/tiny-branches",
    ]
    with serve_hub(tmp_path) as hub:
        env = {
            **hub.env(tmp_path),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
        }
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-4000:]
        pushed = hub.files("org/tiny-branches", repo_type="model")
    assert pushed["README.md"] == (out / "model" / "README.md").read_bytes()
    assert pushed["model.safetensors"] == (out / "model" / "model.safetensors").read_bytes()
    results = json.loads((out / "results.json").read_text())
    assert results["world_size"] == 2 and results["protocol"]["folds"] == 3
    assert results["last_epoch"]["all"]["num_samples"] == 27
    assert set(results["last_epoch"]) == {"note", "all", "casme2", "samm", "smic"}
    log = (out / "predictions" / "seed-0.megc.txt").read_text().splitlines()
    headers = [line for line in log if len(line.split()) == 2]
    assert len(headers) == 9 and len(log) == 9 + 27
    assert all(line.split()[1] in "012" and line.split()[2] in "012" for line in log if line not in headers)
    card = ModelCard.load(out / "model" / "README.md")
    _, evals = model_index_to_eval_results(card.data.to_dict()["model-index"])
    uf1 = next(e for e in evals if e.metric_type == "uf1" and e.dataset_type == "compmie")
    assert uf1.metric_value == pytest.approx(round(results["last_epoch"]["all"]["uf1"]["mean"], 4))
    assert {e.dataset_type for e in evals} == {"compmie", "casme2", "samm", "smic"}
    assert "last epoch" in card.text and "![confusion matrix](confusion_matrix.png)" in card.text
    for name in ("model.safetensors", "config.json", "confusion_matrix.png", "training_curves.png", "results.json"):
        assert (out / "model" / name).is_file()
    assert not (out / ".trainer").exists()


def test_identical_pretraining_is_trained_once_per_seed(
    data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CK+ subjects are never CompMiE test subjects, so every fold pre-trains on the same rows: train it once."""
    module = importlib.import_module("miex.train.runner.run")
    calls: list[str] = []
    original = module.train_stage

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["label"])
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "train_stage", counting)
    recipe = tiny(
        data,
        tmp_path / "out",
        **{
            "data.extra": {"ckplus": {"clips": str(data["ckplus"]), "alignment": "none"}},
            "output.final_model": False,
            "stages": [{"name": "ckplus", "train": ["ckplus"]}, {"name": "finetune", "train": ["real"]}],
        },
    )
    results = run(parse_recipe(recipe))
    assert calls == [
        "seed 0 fold fold0/ckplus",
        "seed 0 fold fold0/finetune",
        "seed 0 fold fold1/finetune",
        "seed 0 fold fold2/finetune",
    ]
    assert all(f["train_counts"]["ckplus"]["ckplus"]["used"] == 3 for f in results["runs"][0]["folds"])
    assert not (tmp_path / "out" / "model" / "model.safetensors").exists()
    assert (tmp_path / "out" / "model" / "README.md").is_file()


def test_stratified_kfold_tests_someone_in_every_fold() -> None:
    """With as many subjects as folds, the greedy class balancing still gives every fold test subjects (a fold
    without any would stop the runner with "no test samples")."""
    import pandas as pd

    from miex.train.protocols import kfold

    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        [
            {"dataset": "casme2", "subject": f"s{i:02d}", "label": int(rng.integers(0, 3))}
            for i in range(5)
            for _ in range(2)
        ]
    )
    folds = kfold(table, 5, seed=1, stratify=True)
    assert all(len(fold.test_subjects) == 1 for fold in folds)


@pytest.mark.slow
def test_trains_on_miex_written_by_synthesize(
    data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, miex_cache: Path
) -> None:
    """The runner reads MiE-X exactly as `miex synthesize` writes it (not only the test fixture's copy)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(miex_cache))  # the default faces, aligned once per session
    synthesized = tmp_path / "miex"
    assert main(["synthesize", "--out", str(synthesized), "--samples-per-identity", "12"]) == 0
    recipe = tiny(data, tmp_path / "out", **{"data.miex": str(synthesized), "protocol.k": 3})
    results = run(parse_recipe(recipe))
    for fold in results["runs"][0]["folds"]:
        assert fold["train_counts"]["pretrain"]["miex"] == {"used": 12, "removed": 0}  # expert rows never leak
    assert (tmp_path / "out" / "results.json").is_file()


@pytest.mark.slow
def test_dtscnn_trains_on_flow_sequences_of_real_clips_and_video_miex(
    data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, miex_cache: Path
) -> None:
    """DTSCNN (Table 2): onset-to-apex sequences of the real clips and the 10-frame MiE-X, as flow between frames."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(miex_cache))  # the default faces, aligned once per session
    video = tmp_path / "miex_video"
    assert main(["synthesize", "--video", "--out", str(video), "--samples-per-identity", "6", "--size", "64"]) == 0
    tiny_dtscnn = {"conv_channels": [4, 8], "temporal_scales": [4, 9], "flow_size": 16}
    changes = {
        "model": {"name": "dtscnn", "config": tiny_dtscnn},
        "data.miex": str(video),
        "data.flow": {"method": "farneback"},
    }
    recipe = tiny(data, tmp_path / "out", **changes)
    results = run(parse_recipe(recipe))
    assert results["last_epoch"]["all"]["num_samples"] == 27
    assert all(f["train_counts"]["pretrain"]["miex"]["used"] == 6 for f in results["runs"][0]["folds"])
    model_config = json.loads((tmp_path / "out" / "model" / "config.json").read_text())
    assert model_config["model_type"] == "miex-dtscnn" and model_config["sequence_length"] == 10
    card = (tmp_path / "out" / "model" / "README.md").read_text(encoding="utf-8")
    assert "10 frames sampled from onset to apex" in card and "colour jitter" not in card  # what it really read
