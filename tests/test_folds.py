"""Fold filter: no sample derived from a test subject's real clip gets through; everything else is kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miex.core.errors import MiexInputError
from miex.data.plan import filter_trainable, trainable_mask

DATASETS = ("casme2", "samm", "smic")
SUBJECTS = ("sub01", "sub02", "006", "s1")

rows = st.lists(
    st.tuples(st.sampled_from(("mie", "mae", "expert")), st.sampled_from(DATASETS), st.sampled_from(SUBJECTS)),
    max_size=40,
)
pairs = st.sets(st.tuples(st.sampled_from(DATASETS), st.sampled_from(SUBJECTS)), max_size=6)


@settings(max_examples=150, deadline=None)
@given(rows=rows, test=pairs)
def test_filter_never_leaks_test_subjects_and_keeps_the_rest(rows, test):
    table = pd.DataFrame(rows, columns=["source", "source_dataset", "source_subject"])
    mask = trainable_mask(table, test)
    kept = filter_trainable(table, test)
    assert len(kept) == int(mask.sum())
    for (_source, dataset, subject), keep in zip(rows, mask, strict=True):
        assert keep == ((dataset, subject) not in test)  # whatever the source: mie and mae samples alike
    assert not any((d, j) in test for _, d, j in kept.itertuples(index=False))


@settings(max_examples=100, deadline=None)
@given(rows=rows, test=pairs)
def test_a_macro_expression_sample_of_a_test_subject_is_never_trained_on(rows, test):
    """MMEW's macro clips feed runs tested on MMEW's micro clips: the same people, so `mae` samples leak too."""
    table = pd.DataFrame(
        [("mae", d, s) for _, d, s in rows] + [("expert", "", "")],
        columns=["source", "source_dataset", "source_subject"],
    )
    kept = filter_trainable(table, test)
    assert not any((d, s) in test for _, d, s in kept.itertuples(index=False))
    assert kept.iloc[-1]["source"] == "expert"  # no subject behind it: always trainable


def test_plain_subject_strings_only_when_unambiguous():
    table = pd.DataFrame(
        {
            "source": ["mie", "mie", "mie", "expert"],
            "source_dataset": ["casme2", "samm", "smic", ""],
            "source_subject": ["sub01", "006", "sub01", ""],
        }
    )
    np.testing.assert_array_equal(trainable_mask(table, ["006"]), [True, False, True, True])
    with pytest.raises(MiexInputError, match="ambiguous"):
        trainable_mask(table, ["sub01"])
    with pytest.raises(MiexInputError, match="source_subject"):
        trainable_mask(table.drop(columns=["source_subject"]), [("samm", "006")])


def test_works_on_datasets_dataset():
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict(
        {
            "source": ["mie", "mae", "mae", "expert"],
            "source_dataset": ["samm", "samm", "samm", ""],
            "source_subject": ["006", "006", "007", ""],
            "x": [1, 2, 3, 4],
        }
    )
    kept = filter_trainable(table, {("samm", "006")})
    assert kept["x"] == [3, 4]
