"""The composite flow image: the one representation, its release layouts and every bad file a release can hold."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flow_fixtures import composite_clips, flow_pattern, write_flat, write_loso
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from miex.core.errors import MiexInputError
from miex.data.corpora import READERS, clips_to_frame
from miex.data.corpora.clips import FLOW_IMAGES, FRAMES, read_clip_table, table_holds, write_clip_table
from miex.data.faces.flow import FlowParams, optical_flow, optical_strain
from miex.data.faces.flow_image import (
    flow_to_image,
    images_to_tensor,
    pair_to_image,
    read_flow_png,
    scale_per_channel,
    write_flow_png,
)
from miex.data.faces.flow_release import ReleaseEntry, write_release

FARNEBACK = FlowParams(method="farneback")


def textured_pair(shift: float = 1.5, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random texture and the same texture shifted right by ``shift`` px inside a central square."""
    import cv2

    rng = np.random.default_rng(3)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (size, size)).astype(np.float32), (0, 0), 2.0)
    moved = base.copy()
    matrix = np.float32([[1, 0, shift], [0, 1, 0]])
    shifted = cv2.warpAffine(base, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
    inner = slice(size // 4, 3 * size // 4)
    moved[inner, inner] = shifted[inner, inner]
    as_rgb = [np.repeat(np.clip(a, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2) for a in (base, moved)]
    return as_rgb[0], as_rgb[1]


# ----------------------------------------------------------------------------------------------------------------
# the representation


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (7, 5, 3), elements=st.floats(-50, 50, allow_nan=False, width=32)))
def test_every_channel_spans_0_to_255_unless_it_is_constant(channels: np.ndarray) -> None:
    image = scale_per_channel(channels)
    assert image.dtype == np.uint8
    for c in range(3):
        if np.ptp(channels[..., c]) > 0:
            assert image[..., c].min() == 0 and image[..., c].max() == 255
            order = np.argsort(channels[..., c], axis=None, kind="stable")
            assert np.all(np.diff(image[..., c].ravel()[order].astype(int)) >= 0)  # monotone in the value
        else:
            assert not image[..., c].any()


def test_a_pair_becomes_u_v_strain_at_28_px_with_the_motion_where_it_happened() -> None:
    onset, apex = textured_pair(2.0)
    image = pair_to_image(onset, apex, FARNEBACK)
    assert image.shape == (28, 28, 3) and image.dtype == np.uint8
    flow = optical_flow(onset, apex, FARNEBACK)
    expected = flow_to_image(flow)
    assert np.array_equal(image, expected)
    centre, corner = image[10:18, 10:18, 0].astype(float).mean(), image[:4, :4, 0].astype(float).mean()
    assert centre > corner + 40  # u: the moved square is bright against the still border
    strain = optical_strain(flow)
    assert strain.shape == flow.shape[:2]


def test_a_pair_written_as_a_release_png_and_read_back_gives_the_same_tensor(tmp_path: Path) -> None:
    onset, apex = textured_pair(1.0)
    image = pair_to_image(onset, apex, FARNEBACK)
    path = write_flow_png(tmp_path / "sub01_EP02_01f .png", image)
    with Image.open(path) as opened:
        assert opened.mode == "RGB" and opened.size == (28, 28)
    back = read_flow_png(path)
    assert np.array_equal(back, image)
    tensor, expected = images_to_tensor(back[None]), images_to_tensor(image[None])
    assert tensor.shape == (1, 3, 28, 28) and float(tensor.max()) == 255.0
    assert bool((tensor == expected).all())
    assert np.array_equal(tensor[0, 0].numpy(), image[..., 0].astype(np.float32))  # channel 0 is u


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a png at all", "unreadable image"),
        ("grey", "mode L"),
        ("rgba", "mode RGBA"),
        ("big", "this one is 32x32"),
    ],
)
def test_a_bad_flow_png_is_an_error_naming_the_file(tmp_path: Path, content: object, reason: str) -> None:
    path = tmp_path / "bad .png"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        mode, size = {"grey": ("L", 28), "rgba": ("RGBA", 28), "big": ("RGB", 32)}[content]
        Image.new(mode, (size, size)).save(path)
    with pytest.raises(MiexInputError, match=reason) as caught:
        read_flow_png(path)
    assert caught.value.file == str(path)


# ----------------------------------------------------------------------------------------------------------------
# the reader, both layouts


def read(root: Path, **options: object) -> tuple[pd.DataFrame, list]:
    corpus = READERS["flow-images"](root, **options)
    return clips_to_frame(corpus.clips), corpus.report.problems


def test_flat_and_loso_layouts_give_the_same_clips_with_provenance(tmp_path: Path) -> None:
    clips = composite_clips()
    labels = write_flat(tmp_path / "flat", clips)
    write_loso(tmp_path / "loso", clips)
    flat, flat_problems = read(tmp_path / "flat", labels=labels)
    loso, loso_problems = read(tmp_path / "loso")
    assert [p for p in flat_problems + loso_problems if not p.kept] == []
    columns = ["dataset", "subject", "clip", "label", "emotion", "onset", "apex"]
    assert flat[columns].equals(loso[columns])
    assert len(flat) == 18 and flat.groupby("dataset")["subject"].nunique().to_dict() == {
        "casme2": 2,
        "samm": 2,
        "smic": 2,
    }
    row = flat[flat["clip"] == "006_1_2"].iloc[0]
    assert (row["dataset"], row["subject"], row["emotion"]) == (
        "samm",
        "006",
        ["negative", "positive", "surprise"][row["label"]],
    )
    assert row["frames"][0].endswith("006_006_1_2 .png")  # the release's space before .png
    assert {p.reason.split(":")[0] for p in flat_problems} == {"differs from the MEGC2019 composite"}


def test_the_clip_table_says_it_holds_flow_images_and_reads_back(tmp_path: Path) -> None:
    labels = write_flat(tmp_path / "flat", composite_clips(per_subject=1))
    frame, _ = read(tmp_path / "flat", labels=labels)
    write_clip_table(frame, tmp_path / "flows.parquet", holds=FLOW_IMAGES)
    write_clip_table(frame, tmp_path / "frames.parquet")
    assert table_holds(tmp_path / "flows.parquet") == FLOW_IMAGES
    assert table_holds(tmp_path / "frames.parquet") == FRAMES
    back = read_clip_table(tmp_path / "flows.parquet")
    assert [Path(f[0]).name for f in back["frames"]] == [Path(f[0]).name for f in frame["frames"]]


def test_the_composite_counts_are_checked(tmp_path: Path) -> None:
    """A release with the composite's exact counts is confirmed; any other is reported with each difference."""
    subjects = {
        "casme2": [f"sub{n:02d}" for n in range(1, 25)],
        "samm": [f"{n:03d}" for n in range(6, 34)],
        "smic": [f"s{n:02d}" for n in range(1, 17)],
    }
    clips = composite_clips(per_subject=11, subjects=subjects)
    totals = {"casme2": 145, "samm": 133, "smic": 164}
    kept: list[ReleaseEntry] = []
    for dataset, total in totals.items():  # round robin over the subjects, so every subject keeps clips
        mine = [c for c in clips if c.dataset == dataset]
        kept += sorted(mine, key=lambda c: (mine.index(c) % 11, mine.index(c) // 11))[:total]
    kept = [replace(clip, label=label) for clip, label in zip(kept, [0] * 250 + [1] * 109 + [2] * 83, strict=True)]
    labels = write_flat(tmp_path / "flat", kept)
    frame, problems = read(tmp_path / "flat", labels=labels)
    assert len(frame) == 442 and frame["subject"].nunique() == 68
    assert problems[0].reason.startswith("matches the MEGC2019 composite")


def test_every_bad_file_of_a_flat_release_is_named(tmp_path: Path) -> None:
    clips = composite_clips(per_subject=2)
    root = tmp_path / "flat"
    labels = write_flat(root, clips)
    (root / f"{clips[0].file_name}").write_bytes(b"garbage")  # unreadable
    Image.new("RGB", (32, 32)).save(root / clips[1].file_name)  # not 28x28
    Image.new("L", (28, 28)).save(root / clips[2].file_name)  # not RGB
    (root / clips[3].file_name).unlink()  # label without file
    write_flow_png(root / "s09_s09_po_01 .png", flow_pattern(1, np.random.default_rng(0)))  # no label
    text = labels.read_text() + f"{clips[4].dataset},{clips[4].subject},{clips[4].clip},{clips[4].label}\n"
    labels.write_text(text + "casme2,sub01,EP09_01f,7\n")  # a duplicate row; a label outside 0..2
    frame, problems = read(root, labels=labels)
    assert len(frame) == len(clips) - 4
    by_reason = {p.reason.split(" (")[0].split(":")[0]: p for p in problems if not p.kept}
    assert by_reason["unreadable image"].file == str(root / clips[0].file_name)
    assert "this one is 32x32" in next(p.reason for p in problems if p.file == str(root / clips[1].file_name))
    assert "mode L" in next(p.reason for p in problems if p.file == str(root / clips[2].file_name))
    assert by_reason["label without file"].row == 2 + 3 and by_reason["label without file"].file == str(labels)
    assert by_reason["no label"].file == str(root / "s09_s09_po_01 .png")
    assert by_reason["duplicate clip"].row == len(clips) + 2
    assert by_reason["label '7' is not 0, 1 or 2"].field == "label"
    with pytest.raises(MiexInputError, match="label '7' is not 0, 1 or 2") as caught:
        READERS["flow-images"](root, labels=labels, strict=True)
    assert caught.value.file == str(labels) and caught.value.row == len(clips) + 3


def test_every_bad_file_of_a_loso_release_is_named(tmp_path: Path) -> None:
    clips = composite_clips(per_subject=2)
    root = write_loso(tmp_path / "loso", clips)
    first, second = clips[0], clips[2]  # sub01 and sub02
    image = flow_pattern(first.label, np.random.default_rng(1))
    write_flow_png(root / second.subject / "u_test" / str(first.label) / first.file_name, image)  # in two test folders
    write_flow_png(root / second.subject / "u_test" / str(first.label) / first.file_name, image)
    own = root / second.subject / "u_train" / str(second.label) / second.file_name  # a subject's own clip in training
    write_flow_png(own, image)
    relabelled = root / "006" / "u_train" / str((clips[1].label + 1) % 3) / clips[1].file_name  # label disagrees
    write_flow_png(relabelled, image)
    frame, problems = read(root)
    reasons = [p.reason for p in problems if not p.kept]
    assert any("two subjects' test folders (sub01 and sub02)" in r for r in reasons)
    assert any(p.file == str(own) and "own clip" in p.reason for p in problems)
    assert any("in u_test but" in r for r in reasons)
    taken = set(zip(frame["subject"], frame["clip"], strict=True))
    assert (clips[1].subject, clips[1].clip) not in taken
    assert (first.subject, first.clip) in taken  # kept in its own subject


def test_a_loso_release_checks_the_label_csv_when_given(tmp_path: Path) -> None:
    clips = composite_clips(per_subject=1)
    root = write_loso(tmp_path / "loso", clips)
    labels = write_flat(tmp_path / "flat", clips)  # same names, labels.csv beside
    first = clips[0]
    labels.write_text(
        labels.read_text().replace(f"{first.clip},{first.label}", f"{first.clip},{(first.label + 1) % 3}")
    )
    frame, problems = read(root, labels=labels)
    assert len(frame) == len(clips) - 1
    assert any("by folder but" in p.reason and p.clip.endswith(clips[0].file_name[:-5]) for p in problems)


# ----------------------------------------------------------------------------------------------------------------
# writing releases


@pytest.mark.parametrize("layout", ["flat", "loso"])
def test_written_releases_read_back_identically(tmp_path: Path, layout: str) -> None:
    clips = composite_clips(per_subject=1)
    rng = np.random.default_rng(0)
    images = np.stack([flow_pattern(c.label, rng) for c in clips])
    entries = clips
    out = tmp_path / layout
    write_release(out, entries, images, layout=layout)
    corpus = READERS["flow-images"](out, labels=out / "labels.csv")
    assert not corpus.report.skipped
    read_back = {(c.subject, c.clip): read_flow_png(c.frames[0]) for c in corpus.clips}
    for entry, image in zip(entries, images, strict=True):
        assert np.array_equal(read_back[(entry.subject, entry.clip)], image)


@pytest.mark.slow
def test_miex_flow_writes_a_miex_folder_as_a_release_that_reads_back(tmp_path: Path) -> None:
    """`miex flow MIEX --out DIR` (the CLI, another process): every pair's image, named by identity and sample, equal
    to the representation of that pair."""
    import subprocess
    import sys

    from datasets import load_dataset

    import miex

    miex.synthesize(out=tmp_path / "miex", samples_per_identity=6)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "miex",
            "flow",
            str(tmp_path / "miex"),
            "--out",
            str(tmp_path / "release"),
            "--method",
            "farneback",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "MIEX_FLOW_CACHE": str(tmp_path / "c")},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    corpus = READERS["flow-images"](tmp_path / "release", labels=tmp_path / "release" / "labels.csv")
    assert not corpus.report.skipped and len(corpus.clips) == 6
    pairs = load_dataset(str(tmp_path / "miex"), split="train")
    by_sample = {clip.clip: clip for clip in corpus.clips}
    for row in pairs:
        clip = by_sample[row["sample_id"]]
        assert clip.dataset == "miex" and clip.subject == row["identity"] and clip.label == row["label"]
        expected = pair_to_image(np.asarray(row["onset"]), np.asarray(row["apex"]), FARNEBACK)
        assert np.array_equal(read_flow_png(clip.frames[0]), expected)


FLOW_AFTER_SYNTHESIS = """
import os, sys
import miex
from miex.data.faces.flow import FlowParams
from miex.train.flow_inputs import dataset_flow_images

def main():
    out = sys.argv[1]
    miex.synthesize(out=out, samples_per_identity=12)   # torch and the landmarker ran: threads hold locks
    images = dataset_flow_images(miex.load(out), FlowParams(), workers=2)
    print("flow images", images.shape)

if __name__ == "__main__":
    main()
"""


@pytest.mark.slow
def test_flow_workers_start_cleanly_after_synthesis_in_the_same_script(tmp_path: Path, miex_cache: Path) -> None:
    """A script that synthesizes and then computes flow images in worker processes finishes (forked workers
    inherited locked thread state and hung); without a main guard it gets a message saying what to do."""
    import subprocess
    import sys

    script = tmp_path / "first_run.py"
    script.write_text(FLOW_AFTER_SYNTHESIS, encoding="utf-8")
    env = {**os.environ, "XDG_CACHE_HOME": str(miex_cache), "MIEX_FLOW_CACHE": str(tmp_path / "flows")}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "miex")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "flow images (12, 28, 28, 3)" in done.stdout
    unguarded = tmp_path / "unguarded.py"
    unguarded.write_text(FLOW_AFTER_SYNTHESIS.replace('if __name__ == "__main__":\n    main()', "main()"))
    env["MIEX_FLOW_CACHE"] = str(tmp_path / "flows2")  # nothing cached: the workers must start
    failed = subprocess.run(
        [sys.executable, str(unguarded), str(tmp_path / "miex2")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert failed.returncode != 0 and "if __name__ == '__main__':" in failed.stderr
