"""A recipe's part of MiE-X (``data.miex.sources``, ``data.miex.identities``) and the recipes of the paper's AU and
identity studies: the right rows are kept, by a rule that does not depend on row order, and results.json says so."""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml
from flow_fixtures import composite_clips, write_flat
from PIL import Image

from miex.core.errors import MiexInputError
from miex.data.corpora import READERS, clips_to_frame
from miex.data.corpora.clips import FLOW_IMAGES, write_clip_table
from miex.train.runner import run as run_recipe
from miex.train.runner.miex_subset import identity_order, select_miex
from miex.train.runner.recipe import load_recipe, parse_recipe, shipped_recipes
from miex.train.runner.specs import MiexSpec

SOURCES = ["mie", "mae", "expert"]
LABELS = ["negative", "positive", "surprise"]


def table(identities: list[str]) -> datasets.Dataset:
    """One row per identity x class x source (the published MiE-X's cycle), no images: the subset reads columns."""
    rows = [
        {"identity": who, "label": label, "source": source}
        for who in identities
        for label in range(3)
        for source in range(3)
    ]
    features = datasets.Features(
        {
            "identity": datasets.Value("string"),
            "label": datasets.ClassLabel(names=LABELS),
            "source": datasets.ClassLabel(names=SOURCES),
        }
    )
    return datasets.Dataset.from_list(rows, features=features)


def names_of(dataset: datasets.Dataset, column: str) -> list[str]:
    return [dataset.features[column].int2str(v) for v in dataset[column]] if column == "source" else dataset[column]


def test_sources_keep_exactly_the_rows_of_those_sources() -> None:
    full = table([f"id{i}" for i in range(4)])
    kept, record = select_miex(full, MiexSpec(path=Path("m"), sources=("mie", "expert")))
    assert sorted(set(names_of(kept, "source"))) == ["expert", "mie"] and len(kept) == 4 * 3 * 2
    assert record == {"samples_before": 36, "sources": ["mie", "expert"], "samples": 24}
    assert select_miex(full, MiexSpec(path=Path("m"))) == (full, None)  # nothing asked: the whole MiE-X, no record


def test_identities_are_the_first_by_digest_whatever_the_row_order() -> None:
    names = [f"face_{i:04d}" for i in range(50)]
    expected = sorted(names, key=lambda n: hashlib.sha256(n.encode()).hexdigest())[:7]
    assert identity_order(names)[:7] == expected and identity_order(reversed(names)) == identity_order(names)
    spec = MiexSpec(path=Path("m"), identities=7)
    kept, record = select_miex(table(names), spec)
    shuffled, _ = select_miex(table(names).shuffle(seed=3), spec)
    assert sorted(set(kept["identity"])) == sorted(expected) == sorted(set(shuffled["identity"]))
    assert len(kept) == 7 * 9 and record["identities_available"] == 50 and "SHA-256" in record["identity_rule"]
    smaller, _ = select_miex(table(names), MiexSpec(path=Path("m"), identities=3))
    assert set(smaller["identity"]) < set(kept["identity"])  # nested: the 3 are among the 7


def test_sources_and_identities_together() -> None:
    kept, record = select_miex(
        table([f"id{i}" for i in range(10)]), MiexSpec(path=Path("m"), sources=("mae", "expert"), identities=4)
    )
    assert len(kept) == 4 * 3 * 2 and set(names_of(kept, "source")) == {"mae", "expert"}
    assert record["samples"] == 24 and record["sources"] == ["mae", "expert"] and record["identities"] == 4


@pytest.mark.parametrize(
    ("dataset", "spec", "message", "field"),
    [
        (table(["a", "b"]), MiexSpec(path=Path("m"), identities=3), "identities is 3 but this MiE-X has 2", "identity"),
        (
            table(["a"]).filter(lambda r: r["source"] != 1),
            MiexSpec(path=Path("m"), sources=("mae",)),
            r"asks for \['mae'\] but this MiE-X has no such sample \(its sources: expert, mie\)",
            "source",
        ),
        (
            table(["a"]).remove_columns("identity"),
            MiexSpec(path=Path("m"), identities=1),
            "needs MiE-X's 'identity' column",
            "identity",
        ),
    ],
)
def test_impossible_subsets_are_refused(dataset: datasets.Dataset, spec: MiexSpec, message: str, field: str) -> None:
    with pytest.raises(MiexInputError, match=message) as caught:
        select_miex(dataset, spec)
    assert caught.value.field == field and str(caught.value.file) == "m"


def recipe_with(miex: object) -> dict:
    return {
        "name": "r",
        "model": {"name": "branches"},
        "data": {"real": {"clips": "c.parquet"}, "miex": miex},
        "protocol": {"kind": "loso"},
        "stages": [{"name": "t", "train": ["miex"]}],
    }


def test_recipe_options_are_read_and_checked() -> None:
    parsed = parse_recipe(recipe_with({"path": "miex", "sources": ["mie"], "identities": 700}), file="/r/x.yaml")
    assert parsed.data.miex == MiexSpec(path=Path("miex"), sources=("mie",), identities=700)
    assert parse_recipe(recipe_with("miex")).data.miex == MiexSpec(path=Path("miex"))  # shorthand: everything
    for bad, message in (
        ({"sources": ["mi"]}, r"unknown AU source\(s\) \['mi'\] \(did you mean 'mie'\?\)"),
        ({"identities": 0}, "must be >= 1"),
        ({"sources": ["mie", "mie"]}, "repeat"),
    ):
        with pytest.raises(MiexInputError, match=message) as caught:
            parse_recipe(recipe_with({"path": "miex", **bad}), file="/r/x.yaml")
        assert str(caught.value).startswith("/r/x.yaml, field 'data.miex."), str(caught.value)


def test_the_study_recipes_select_what_their_rows_say() -> None:
    shipped = shipped_recipes()
    combos = {name: load_recipe(path).data.miex.sources for name, path in shipped.items() if name.startswith("fig5_")}
    assert sorted(combos.values()) == sorted(
        [("mie",), ("mae",), ("expert",), ("mie", "mae"), ("mie", "expert"), ("mae", "expert")]
    )
    for name, sources in combos.items():
        assert name.endswith("_".join(sources)) and load_recipe(shipped[name]).stages[0].train == ("miex",)
    counts = {load_recipe(path).data.miex.identities for name, path in shipped.items() if name.startswith("fig6b_")}
    assert counts == {700, 1000, 1700, 5000}
    for name in (n for n in shipped if n.startswith(("fig5_", "fig6b_", "megc2019_loso_"))):
        reproduces = load_recipe(shipped[name]).reproduces
        if name != "megc2019_loso_ststnet":
            assert reproduces is not None and reproduces.scores == "", name  # no published figure for these setups


# --------------------------------------------------------------------------------------------------------------
# through a run


def write_miex(folder: Path, identities: list[str]) -> Path:
    """A MiE-X (save_to_disk) of identity x class x source pairs; the mie rows derive from casme2 subject sub01."""
    rng = np.random.default_rng(0)
    columns = ("onset", "apex", "label", "source", "identity", "source_dataset", "source_subject", "source_clip")
    rows: dict[str, list] = {k: [] for k in columns}
    for who in identities:
        for label in range(3):
            for source in range(3):
                onset = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
                rows["onset"].append(Image.fromarray(onset))
                rows["apex"].append(Image.fromarray(np.roll(onset, 1 + label, axis=1)))
                rows["label"].append(label)
                rows["source"].append(source)
                rows["identity"].append(who)
                mie = SOURCES[source] == "mie"
                rows["source_dataset"].append("casme2" if mie else "")
                rows["source_subject"].append("sub01" if mie else "")
                rows["source_clip"].append("EP02_01f" if mie else "")
    features = datasets.Features(
        {
            "onset": datasets.Image(),
            "apex": datasets.Image(),
            "label": datasets.ClassLabel(names=LABELS),
            "source": datasets.ClassLabel(names=SOURCES),
            **{name: datasets.Value("string") for name in columns[4:]},
        }
    )
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(folder))
    return folder


def test_a_run_trains_on_the_chosen_part_and_records_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIEX_FLOW_CACHE", str(tmp_path / "cache"))
    labels = write_flat(tmp_path / "release", composite_clips(per_subject=3))
    corpus = READERS["flow-images"](tmp_path / "release", labels=labels)
    flows = write_clip_table(clips_to_frame(corpus.clips), tmp_path / "flows.parquet", holds=FLOW_IMAGES)
    miex = write_miex(tmp_path / "miex", [f"person{i}" for i in range(5)])
    raw = {
        "name": "subset",
        "model": {"name": "ststnet"},
        "data": {
            "real": {"clips": str(flows)},
            "miex": {"path": str(miex), "sources": ["mie", "mae"], "identities": 3},
        },
        "protocol": {"kind": "loso", "workers": 1, "max_folds": 1},
        "training": {"epochs": 1, "decay_epochs": 0, "batch_size": 8},
        "stages": [{"name": "pretrain", "train": ["miex"]}, {"name": "finetune", "train": ["real"]}],
        "seeds": [0],
        "output": {"dir": str(tmp_path / "run"), "final_model": False},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(raw))
    payload = run_recipe(load_recipe(tmp_path / "recipe.yaml"), progress=False)
    chosen = identity_order(f"person{i}" for i in range(5))[:3]
    subset = payload["miex_subset"]
    assert subset["samples_before"] == 45 and subset["samples"] == 3 * 3 * 2 and subset["first_identities"] == chosen
    (fold,) = payload["runs"][0]["folds"]
    counts = fold["train_counts"]["pretrain"]["miex"]
    assert fold["name"].endswith("sub01")  # the first LOSO fold tests casme2 sub01: its 'mie' rows are left out
    assert counts == {"used": 3 * 3, "removed": 3 * 3}  # 9 mae samples kept, 9 mie samples of sub01 removed
    assert "flow_method" in payload["inputs"]  # the MiE-X pairs' flow was computed (the real clips' was read)
