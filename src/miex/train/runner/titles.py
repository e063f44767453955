"""How model cards name models, their papers and datasets (shared by :mod:`.card` and :mod:`.claims`)."""

from __future__ import annotations

from collections.abc import Iterable

MODEL_TITLES = {
    "branches": "Branches",
    "apexme": "ApexME",
    "ststnet": "STSTNet",
    "offapexnet": "OFF-ApexNet",
    "dtscnn": "DTSCNN",
    "htnet": "HTNet",
}
MODEL_CITATIONS = {
    "branches": "Liu et al., FG 2019",
    "apexme": "Li, Huang & Zhao, ICIP 2018",
    "ststnet": "Liong et al., FG 2019",
    "offapexnet": "Gan et al., 2019",
    "dtscnn": "Peng et al., 2017",
    "htnet": "Wang et al., 2024",
}
"""The paper of each recognizer family (docs/reference.md §Recognizers): a published figure is attributed to it."""
DATASET_TITLES = {
    "casme2": "CASME II",
    "casme": "CASME",
    "samm": "SAMM",
    "smic": "SMIC",
    "mmew": "MMEW",
    "ckplus": "CK+",
    "miex": "MiE-X",
}


def model_title(name: str) -> str:
    return MODEL_TITLES.get(name, name)


def method_title(name: str) -> str:
    """``STSTNet (Liong et al., FG 2019)``: a recognizer family with its paper (just its name when unknown)."""
    return f"{model_title(name)} ({MODEL_CITATIONS[name]})" if name in MODEL_CITATIONS else model_title(name)


def dataset_title(name: str) -> str:
    return DATASET_TITLES.get(name, name)


def titles(names: Iterable[str]) -> str:
    """``CASME II + SAMM + SMIC``."""
    return " + ".join(dataset_title(name) for name in names)


def plural(count: int, noun: str, many: str = "") -> str:
    """``1 epoch``, ``20 epochs``, ``45,000 samples``, ``5,000 identities`` (``many``: an irregular plural)."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def listed(items: list[str], separator: str = ", ") -> str:
    """``a``, ``a and b``, ``a, b and c``; with ``separator="; "`` (clauses that hold commas) ``a; b; and c``."""
    if len(items) < 2:
        return "".join(items)
    last = f"{separator}and " if separator != ", " and len(items) > 2 else " and "
    return f"{separator.join(items[:-1])}{last}{items[-1]}"
