"""Publish a MiE-X dataset folder (or a trained model folder) to the Hugging Face Hub, and fetch model repos back.

The folder is checked locally first so a half-made folder never reaches the Hub, then uploaded with
``HfApi.upload_folder``: in huggingface_hub 2.x that is resumable and splits large folders into several commits, so
running the same push again after an interruption only sends what is missing (files already on the Hub with the same
content are skipped). Hub failures (bad token, no write access, unknown repo, no network) become a
:class:`~miex.core.errors.MiexInputError` that says what to do next.

:func:`resolve_pretrained` is the way back for generators: a local folder or file as it is, or a model repo
``ORG/NAME`` downloaded with ``snapshot_download`` (cached, so it also works offline once fetched) and pinned to the
commit its revision resolved to, which synthesis records with the run.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from miex.core import __version__
from miex.core.errors import MiexInputError
from miex.core.fileio import RUN_STATE, OutputLock, read_json
from miex.core.progress import PROGRESS_DELAY_S
from miex.data.layout import CARD_IMAGES, CARD_NAME, DATA_DIR, IMAGES_DIR, PLAN_NAME, receipt_of, shard_problem

logger = logging.getLogger(__name__)

REPO_TYPES = ("dataset", "model")
# Never published: run state (`.miex/` shard receipts, any hidden folder), temp files of atomic writes (`x.tmp`,
# `x.tmp.npz`), caches. Top-level dotfiles such as `.gitattributes` are still uploaded.
IGNORE_PATTERNS: tuple[str, ...] = (
    ".*/*",
    "*/.*/*",
    "*.tmp",
    "*.tmp*",
    "*.part",
    "*.lock",
    "__pycache__/*",
    "*/__pycache__/*",
    ".DS_Store",
    "*/.DS_Store",
)
_SHARD = re.compile(r"(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet")
_SYNTHESIZE_FIRST = "run `miex synthesize --out DIR` first (or `miex import-legacy`) to make a MiE-X folder"


def _ignored(path: str) -> bool:
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS  # .git/, .cache/huggingface/: never uploaded either

    return any(fnmatch.fnmatch(path, pattern) for pattern in (*IGNORE_PATTERNS, *DEFAULT_IGNORE_PATTERNS))


def is_repo_id(text: object) -> bool:
    """Whether ``text`` is spelled like a Hub repo id ``ORG/NAME`` (``huggingface_hub``'s own rules, with the
    namespace required)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(text, str) or text.count("/") != 1:
        return False
    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def check_repo_id(repo_id: str) -> str:
    """``ORG/NAME`` as the Hub spells repo ids; checked before any request so a typo costs nothing."""
    if not is_repo_id(repo_id):
        raise MiexInputError(
            f"expected a Hub repo id ORG/NAME (letters, digits, '-', '_', '.'; e.g. my-lab/miex), got {repo_id!r}",
            field="repo",
        )
    return repo_id


def check_folder(folder: str | PathLike[str], repo_type: str = "dataset") -> list[str]:
    """The files ``push_folder`` would upload (posix paths relative to ``folder``), after checking it is complete;
    :func:`upload_plan` also says which files it leaves out."""
    return upload_plan(folder, repo_type)[0]


def upload_plan(folder: str | PathLike[str], repo_type: str = "dataset") -> tuple[list[str], list[str]]:
    """(the files to upload, the files left out), as posix paths relative to ``folder``, after checking it.

    A dataset folder uploads only the dataset's own files: the ``README.md`` card, the ``data/`` shards that have a
    receipt (all ``-of-N`` shards, so a folder whose synthesis was interrupted is not published), and what synthesis
    writes beside them (``plan.parquet``, the card's figures under ``images/``); anything else a user put there (a
    ``credentials.json``, notes) is left out. A model folder uploads every file but run state. Links are never
    followed: a link among the dataset's own files is refused, any other is left out."""
    root = Path(folder)
    if repo_type not in REPO_TYPES:
        raise MiexInputError(f"repo type must be one of {', '.join(REPO_TYPES)}, got {repo_type!r}", field="repo_type")
    if not root.is_dir():
        hint = _SYNTHESIZE_FIRST if repo_type == "dataset" else "save the trained model there first"
        raise MiexInputError(f"not a folder; {hint}", file=root)
    files, links = _walk(root)
    if repo_type == "model":
        files = [name for name in files if not _ignored(name)]
        if not files:
            raise MiexInputError(
                "nothing to upload: the model folder is empty (save the model and its card first)", file=root
            )
        if "README.md" not in files:
            logger.warning("%s has no README.md: the model page will have no card", root)
        return files, links
    own = [name for name in [*files, *links] if _is_dataset_file(name)]
    for name in own:
        if name in links:
            raise MiexInputError(
                "a link among the dataset's own files: push never follows links; put the file "
                "itself there (rerun `miex synthesize` to rewrite it), then push",
                file=root / name,
            )
    mine = set(own)  # a set: a dataset folder holds thousands of shards and receipts
    left_out = sorted(name for name in [*files, *links] if name not in mine and not _ignored(name))
    if "README.md" not in own:
        raise MiexInputError(f"missing the dataset card; {_SYNTHESIZE_FIRST}", file=root / "README.md")
    shards = [name for name in own if fnmatch.fnmatch(name, "data/*.parquet")]
    if not shards:
        raise MiexInputError(f"no parquet shards (data/*.parquet); {_SYNTHESIZE_FIRST}", file=root / "data")
    _check_shard_sets(root, shards)
    rows = _check_receipts(root, [name for name in own if name.startswith("data/")])
    _check_card(root / "README.md", rows)
    return own, left_out


def _walk(root: Path) -> tuple[list[str], list[str]]:
    """(regular files, links) below ``root`` as sorted posix paths; linked folders are listed, never entered."""
    files, links = [], []
    for folder, names, filenames in os.walk(root):  # followlinks=False: a linked folder is a name in `names`
        for name in [*names, *filenames]:
            path = Path(folder, name)
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                links.append(relative)
            elif path.is_file():
                files.append(relative)
    return sorted(files), sorted(links)


def _is_dataset_file(name: str) -> bool:
    """Whether ``name`` is one of the files a MiE-X dataset folder publishes (temp files of atomic writes are not),
    or one of its folders (which, as links, are refused)."""
    if name in (CARD_NAME, PLAN_NAME, DATA_DIR, IMAGES_DIR, *(f"{IMAGES_DIR}/{image}" for image in CARD_IMAGES)):
        return True
    return name.startswith(f"{DATA_DIR}/") and not _ignored(name)


_REPAIR = "run the same `miex synthesize` command again to repair it (it re-renders only damaged shards), then push"


def _check_receipts(root: Path, data_files: list[str]) -> int:
    """Every file under ``data/`` must match the receipt ``miex synthesize`` wrote for it in ``.miex/shards/``
    (rows, bytes, sha256): a truncated, empty or bit-flipped shard, or a stray file the card does not count, never
    reaches the Hub. Returns the rows of all shards."""
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    total = 0
    for name in tqdm(data_files, desc="verify shards", unit="shard", delay=PROGRESS_DELAY_S, dynamic_ncols=True):
        path = root / name
        receipt = receipt_of(path, root)
        if not receipt.is_file():
            raise MiexInputError(
                "not written by `miex synthesize` (no receipt in .miex/shards/), yet load_dataset would read it as "
                "training rows the card does not count: remove it, or rerun `miex synthesize` for this folder",
                file=path,
            )
        problem = shard_problem(path, receipt)
        if problem is None:
            rows = pq.ParquetFile(path).metadata.num_rows
            expected = read_json(receipt)["rows"]
            problem = None if rows == expected else f"it holds {rows} rows, its receipt {expected}"
            total += rows
        if problem is not None:
            raise MiexInputError(f"corrupt shard: {problem}; {_REPAIR}", file=path)
    return total


def _check_shard_sets(root: Path, shards: list[str]) -> None:
    """Every ``split-XXXXX-of-NNNNN.parquet`` series must be complete, else load_dataset silently loses rows."""
    series: dict[tuple[str, int], set[int]] = defaultdict(set)
    for name in shards:
        match = _SHARD.fullmatch(name.removeprefix("data/"))
        if match:
            series[(match["split"], int(match["count"]))].add(int(match["index"]))
    for (split, count), present in sorted(series.items()):
        missing = sorted(set(range(count)) - present)
        if missing:
            first = f"{split}-{missing[0]:05d}-of-{count:05d}.parquet"
            raise MiexInputError(
                f"{len(missing)} of {count} {split!r} shards are missing (first: {first}); the synthesis did not "
                "finish: run the same `miex synthesize` command again (it resumes), then push",
                file=root / "data" / first,
            )


def _check_card(card: Path, rows: int | None = None) -> None:
    """The card's YAML must parse (the Hub refuses it otherwise); without ``configs:`` splits are only guessed; its
    train split size must be the ``rows`` the shards hold (else load_dataset raises NonMatchingSplitsSizesError)."""
    import yaml
    from huggingface_hub import metadata_load

    try:
        metadata = metadata_load(card)
    except yaml.YAMLError as error:
        raise MiexInputError(
            f"the card's YAML front matter does not parse: {error}", file=card, field="YAML front matter"
        ) from error
    except UnicodeDecodeError as error:
        raise MiexInputError(f"the card is not UTF-8 text: {error}", file=card) from error
    except ValueError as error:  # the front matter is YAML but not a mapping
        raise MiexInputError(
            "the card's YAML front matter must be a mapping", file=card, field="YAML front matter"
        ) from error
    if metadata is None:
        logger.warning("%s has no YAML front matter: load_dataset will guess splits and features", card)
        return
    for key in ("configs", "dataset_info"):
        if key not in metadata:
            logger.warning("%s: the YAML has no %r; re-run `miex synthesize` to regenerate the card", card, key)
    infos = metadata.get("dataset_info")
    infos = infos if isinstance(infos, list) else [infos]
    for info in infos:
        splits = info.get("splits") if isinstance(info, dict) else None
        for split in splits if isinstance(splits, list) else ():
            if not isinstance(split, dict) or split.get("name") != "train" or rows is None:
                continue
            counted = split.get("num_examples")
            if counted != rows:
                raise MiexInputError(
                    f"the card counts {counted} train rows but the shards hold {rows}; run the same "
                    "`miex synthesize` command again to rewrite the card, then push",
                    file=card,
                    field="dataset_info",
                )


def push_folder(
    folder: str | PathLike[str],
    repo_id: str,
    *,
    repo_type: str = "dataset",
    private: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Create ``repo_id`` if needed and upload ``folder`` to it; returns the repo URL.

    ``repo_type="model"`` publishes a trained model folder (weights, config, model card) the same way. ``token``
    defaults to ``HF_TOKEN`` or the token saved by ``hf auth login``. ``private`` only applies when the repo is
    created. Run it again after an interruption: files already on the Hub are skipped.
    """
    root = Path(folder)
    check_repo_id(repo_id)
    with contextlib.ExitStack() as held:
        if repo_type == "dataset" and (root / RUN_STATE).is_dir():
            held.enter_context(OutputLock(root))  # no `miex synthesize` may rewrite shards while they are sent
        return _push_checked(
            root, repo_id, repo_type=repo_type, private=private, token=token, commit_message=commit_message
        )


def _push_checked(
    root: Path, repo_id: str, *, repo_type: str, private: bool, token: str | None, commit_message: str | None
) -> str:
    """Check the folder, then create the repo and upload it (see :func:`push_folder`)."""
    from huggingface_hub import HfApi

    files, left_out = upload_plan(root, repo_type)
    if left_out:
        _say_left_out(root, repo_type, left_out)
    size = sum((root / name).stat().st_size for name in files)
    api = HfApi(token=token, library_name="miex", library_version=__version__)
    what = "MiE-X dataset" if repo_type == "dataset" else "model"
    logger.info(
        "pushing %d files (%.1f MB) from %s to %s repo %s at %s",
        len(files),
        size / 1e6,
        root,
        repo_type,
        repo_id,
        api.endpoint,
    )
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type=repo_type,
            folder_path=root,
            allow_patterns=[_literal(name) for name in files],  # exactly the checked files, nothing found later
            ignore_patterns=list(IGNORE_PATTERNS),
            commit_message=commit_message or f"Upload {what} with miex {__version__}",
        )
    except Exception as error:
        explained = _explain(error, root, repo_id, repo_type, api.endpoint)
        if explained is None:
            raise
        raise explained from error
    logger.info("pushed %s (commit %s)", url, getattr(commit, "oid", commit))
    return str(url)


def _say_left_out(root: Path, repo_type: str, left_out: list[str]) -> None:
    """Name the files a push does not send, so a user sees that nothing else of the folder went public."""
    shown = ", ".join(left_out[:10]) + (f" and {len(left_out) - 10} more" if len(left_out) > 10 else "")
    sent = "the card, its figures, plan.parquet and the shards" if repo_type == "dataset" else "regular files"
    logger.warning(
        "not uploading %d file(s) of %s: only %s are sent, and links never: %s", len(left_out), root, sent, shown
    )


def _literal(name: str) -> str:
    """``name`` as an fnmatch pattern that matches only itself (``*``, ``?`` and ``[`` taken literally)."""
    return re.sub(r"([*?[])", r"[\1]", name)


def _explain(error: Exception, root: Path, repo_id: str, repo_type: str, endpoint: str) -> MiexInputError | None:
    """A Hub or network failure as a message that says what to do next; None for anything else (a bug: re-raise)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    namespace = repo_id.split("/")[0]
    login = "log in with `hf auth login`, or set HF_TOKEN (or pass --token) to a token with write access"
    resume = "run the same push again to resume (files already on the Hub are skipped)"
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        status = error.response.status_code
        said = (getattr(error, "server_message", None) or "").strip().rstrip(".")
        said = f" ({said})" if said else ""
        if status == 401:
            return MiexInputError(
                f"the Hub at {endpoint} refused the credentials (401 Unauthorized){said}; {login} "
                "(create one at https://huggingface.co/settings/tokens)",
                file=root,
                field="token",
            )
        if status == 403:
            return MiexInputError(
                f"this token may not write to {namespace!r} (403 Forbidden){said}; use a write token "
                f"or a fine-grained one with write access to {namespace!r}, or ask an admin of it",
                file=root,
                field="token",
            )
        if status == 404:
            return MiexInputError(
                f"{repo_type} repo {repo_id!r} not found or not visible with this token (404)"
                f"{said}; check --repo ORG/NAME and that {namespace!r} exists, and {login}",
                file=root,
                field="repo",
            )
        if status in (409, 412):
            return MiexInputError(
                f"the repo changed during the upload ({status}){said}; {resume}", file=root, field="repo"
            )
        return MiexInputError(f"the Hub answered {status}{said}; {resume}", file=root, field="repo")
    if isinstance(error, OfflineModeIsEnabled):
        return MiexInputError("HF_HUB_OFFLINE is set: unset it to push to the Hub", file=root)
    if isinstance(error, (httpx2.TransportError, ConnectionError, TimeoutError)):
        return MiexInputError(
            f"could not reach the Hub at {endpoint} ({type(error).__name__}: {error}); check the "
            f"network (or HF_ENDPOINT), then {resume}",
            file=root,
        )
    if isinstance(error, HFValidationError):
        return MiexInputError(str(error), field="repo")
    if isinstance(error, ValueError) and "Invalid metadata in README.md" in str(error):
        return MiexInputError(
            f"the Hub refused the card metadata: {error}", file=root / "README.md", field="YAML front matter"
        )
    return None


_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Pretrained:
    """Where a generator's files were found: a local path, or a Hub snapshot pinned to a commit."""

    path: Path
    """A local file or folder (for a Hub repo: its snapshot folder in the Hugging Face cache)."""
    source: str
    """What was asked for: the local path or the repo id, as given."""
    revision: str | None = None
    """The commit a Hub repo resolved to (None for local files): recorded with every synthesis run."""


def resolve_pretrained(
    source: str | PathLike[str],
    *,
    revision: str | None = None,
    required: Sequence[str] = (),
    optional: Sequence[str] = (),
    option: str = "--checkpoint",
) -> Pretrained:
    """A local file or folder as it is; else a Hub model repo ``ORG/NAME`` at ``revision`` (default main),
    downloaded into the Hugging Face cache: the ``required`` and ``optional`` files when any is named, else all.

    ``option`` names the command-line option in errors. Needs ``HF_TOKEN`` or ``hf auth login`` for private repos;
    with ``HF_HUB_OFFLINE=1`` a repo fetched before is read from the cache."""
    path = Path(source)
    if path.exists():
        if revision is not None:
            raise MiexInputError(
                f"--revision applies to a Hub repo id, but {option} is a local path", file=path, field="revision"
            )
        return Pretrained(path, str(source))
    if not is_repo_id(str(source)):
        raise MiexInputError(
            f"{option}: not found (give an existing file or folder, or a Hub model repo ORG/NAME)", file=path
        )
    return _download(str(source), revision, list(required), list(optional), option)


def _download(repo_id: str, revision: str | None, required: list[str], optional: list[str], option: str) -> Pretrained:
    from huggingface_hub import constants, snapshot_download

    try:
        folder = Path(
            snapshot_download(
                repo_id,
                repo_type="model",
                revision=revision,
                allow_patterns=[*required, *optional] or None,
                library_name="miex",
                library_version=__version__,
            )
        )
    except Exception as error:
        explained = _explain_download(error, repo_id, revision, option, constants.ENDPOINT)
        if explained is None:
            raise
        raise explained from error
    missing = [name for name in required if not (folder / name).is_file()]
    if missing:
        raise MiexInputError(
            f"model repo {repo_id!r} at {revision or 'main'} has no {', '.join(missing)}: push a "
            "folder written by save_pretrained",
            field=_field_of(option),
        )
    # the cache keeps each download under snapshots/<commit>: the commit this revision resolved to
    commit = folder.name if _COMMIT.fullmatch(folder.name) else None
    logger.info("%s: %s at commit %s", option, repo_id, commit)
    return Pretrained(folder, repo_id, commit)


def _field_of(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def _explain_download(
    error: Exception, repo_id: str, revision: str | None, option: str, endpoint: str
) -> MiexInputError | None:
    """A failed model download as a message that says what to do next; None for anything else (a bug: re-raise)."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    field = _field_of(option)
    login = "log in with `hf auth login` or set HF_TOKEN if it is private"
    if isinstance(error, RevisionNotFoundError):
        return MiexInputError(
            f"model repo {repo_id!r} has no revision {revision!r} (give a branch, tag or commit of it with --revision)",
            field="revision",
        )
    if isinstance(error, GatedRepoError):
        return MiexInputError(
            f"model repo {repo_id!r} is gated: accept its conditions on the Hub, then {login}", field=field
        )
    if isinstance(error, RepositoryNotFoundError):
        return MiexInputError(
            f"{option} {repo_id!r}: no such local file or folder, and no model repo {repo_id!r} "
            f"at {endpoint} ({login})",
            field=field,
        )
    if isinstance(error, LocalEntryNotFoundError | OfflineModeIsEnabled):
        return MiexInputError(
            f"{option} {repo_id!r}: no such local file or folder, and as a Hub model repo it is "
            "not in the Hugging Face cache while the Hub cannot be reached (HF_HUB_OFFLINE set, or "
            "no network): fix the path, or fetch the repo once online",
            field=field,
        )
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        return MiexInputError(
            f"the Hub at {endpoint} answered {error.response.status_code} for model repo "
            f"{repo_id!r}; try again, or give a local folder",
            field=field,
        )
    if isinstance(error, httpx2.TransportError | ConnectionError | TimeoutError):
        return MiexInputError(
            f"could not reach the Hub at {endpoint} for {repo_id!r} ({type(error).__name__}); "
            "check the network (or HF_ENDPOINT)",
            field=field,
        )
    if isinstance(error, HFValidationError):
        return MiexInputError(str(error), field=field)
    return None
