"""Read GANimation weights in either published layout (docs/reference.md §GANimation) or our own save format.

- official (``net_epoch_E_id_G.pth``): ``main.*``, residual inner ``main.0/1/3/4``, ``img_reg.0``, ``attetion_reg.0``
  (sic); affine norms, bias-free convs; critic ``main.*``, ``conv1``, ``conv2``;
- replicate (``<epoch>_net_gen.pth``): ``model.*``, ``conv_block.0/3``, ``color_top.0``, ``au_top.0``; norms without
  affine parameters, convs with bias; critic ``model.*``, ``dis_top``, ``aus_top``;
- native: ``trunk.*``, ``block.*``, ``color_head.0``, ``attention_head.0``; critic ``realness_head``, ``au_head``.

Indices are identical in all three, so conversion is a rename; the architecture flags are read off the keys.

Training checkpoint folders (``accelerator.save_state``) carry a manifest with the sha256 of every file, written last
at save time: ``--resume`` loads only a folder whose files all match it (:func:`verify_checkpoint_folder`), so a
half-written, tampered or foreign folder is refused before anything in it is deserialised.
"""

from __future__ import annotations

import json
import logging
import re
from os import PathLike
from pathlib import Path
from typing import Literal

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path, first_line, sha256_of
from miex.data.aus.schema import NUM_AUS
from miex.data.generators.ganimation.model import GANimationCriticNetwork, GANimationNetwork

logger = logging.getLogger(__name__)

Kind = Literal["generator", "critic"]
LEGACY_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")

_RENAMES: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("generator", "official"): [
        (r"^main\.(\d+)\.main\.", r"trunk.\1.block."),
        (r"^main\.", "trunk."),
        (r"^img_reg\.", "color_head."),
        (r"^attetion_reg\.", "attention_head."),
    ],
    ("generator", "replicate"): [
        (r"^model\.(\d+)\.conv_block\.", r"trunk.\1.block."),
        (r"^model\.", "trunk."),
        (r"^color_top\.", "color_head."),
        (r"^au_top\.", "attention_head."),
    ],
    ("critic", "official"): [(r"^main\.", "trunk."), (r"^conv1\.", "realness_head."), (r"^conv2\.", "au_head.")],
    ("critic", "replicate"): [
        (r"^model\.", "trunk."),
        (r"^dis_top\.", "realness_head."),
        (r"^aus_top\.", "au_head."),
    ],
}


def detect_layout(state_dict: dict[str, torch.Tensor]) -> str:
    """'official', 'replicate' or 'native', from the first key (after any ``module.`` prefix)."""
    first = next(iter(state_dict), "")
    for prefix, layout in (("main.", "official"), ("model.", "replicate"), ("trunk.", "native")):
        if first.startswith(prefix):
            return layout
    raise MiexInputError(f"unrecognised GANimation checkpoint: first key {first!r} (expected main./model./trunk.)")


def to_native(state_dict: dict[str, torch.Tensor], kind: Kind = "generator") -> dict[str, torch.Tensor]:
    """Strip ``module.``, drop legacy norm buffers (with a warning) and rename keys to the native layout."""
    stripped = {key.removeprefix("module."): value for key, value in state_dict.items()}
    legacy = [key for key in stripped if key.rsplit(".", 1)[-1] in LEGACY_BUFFERS]
    if legacy:
        logger.warning(
            "ignoring %d legacy normalisation buffers (e.g. %s): instance norm keeps none", len(legacy), legacy[0]
        )
    kept = {key: value for key, value in stripped.items() if key not in legacy}
    layout = detect_layout(kept)
    if layout == "native":
        return kept
    renamed = {}
    for key, value in kept.items():
        new = key
        for pattern, replacement in _RENAMES[(kind, layout)]:
            new, count = re.subn(pattern, replacement, new)
            if count:
                break
        renamed[new] = value
    return renamed


def infer_config(state_dict: dict[str, torch.Tensor], kind: Kind = "generator") -> dict[str, object]:
    """Architecture arguments implied by a native state_dict (width, blocks, AU count, norm/bias flags)."""
    first = state_dict.get("trunk.0.weight")
    if first is None:
        raise MiexInputError(f"{kind} checkpoint has no first convolution ('trunk.0.weight' after renaming)")
    if kind == "critic":
        convs = [key for key in state_dict if re.fullmatch(r"trunk\.\d+\.weight", key)]
        head = state_dict["au_head.weight"]
        return {
            "num_aus": int(head.shape[0]),
            "width": int(first.shape[0]),
            "num_layers": len(convs),
            "image_size": int(head.shape[-1]) * 2 ** len(convs),
        }
    blocks = {int(m.group(1)) for key in state_dict if (m := re.match(r"trunk\.(\d+)\.block\.", key))}
    return {
        "num_aus": int(first.shape[1]) - 3,
        "width": int(first.shape[0]),
        "num_residual_blocks": len(blocks),
        "norm_affine": "trunk.1.weight" in state_dict,
        "conv_bias": "trunk.0.bias" in state_dict,
    }


def load_into(module: torch.nn.Module, state_dict: dict[str, torch.Tensor], *, where: str = "checkpoint") -> None:
    """Strict load with messages that name the offending key (missing, unexpected, or wrong shape)."""
    expected = module.state_dict()
    for key, value in state_dict.items():
        if key not in expected:
            raise MiexInputError(
                f"unexpected key {key!r} (not in the {type(module).__name__} architecture)", file=where
            )
        if tuple(value.shape) != tuple(expected[key].shape):
            raise MiexInputError(
                f"key {key!r} has shape {tuple(value.shape)}, the model expects {tuple(expected[key].shape)}",
                file=where,
            )
    missing = sorted(set(expected) - set(state_dict))
    if missing:
        raise MiexInputError(f"missing keys {missing[:5]}{' …' if len(missing) > 5 else ''}", file=where)
    module.load_state_dict(state_dict, strict=True)


def read_state_dict(path: str | PathLike[str]) -> dict[str, torch.Tensor]:
    """A ``.pth``/``.pt`` (tensors only: ``weights_only``) or ``.safetensors`` file as a state_dict."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("checkpoint file not found", file=path)
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise MiexInputError(
                f"not a readable safetensors file ({first_line(error)}); download or save it again", file=path
            ) from error
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise MiexInputError(f"not a readable torch checkpoint ({error})", file=path) from error
    if isinstance(loaded, dict) and "state_dict" in loaded and isinstance(loaded["state_dict"], dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise MiexInputError(f"expected a state_dict, got {type(loaded).__name__}", file=path)
    return loaded


PRETRAINED_FILES = ("config.json", "model.safetensors")
"""What ``save_pretrained`` (the Hub mixin) writes and loading reads; a model repo also carries the README card."""
CONFIG_FIELDS: dict[str, tuple[type, int, int]] = {
    "num_aus": (int, NUM_AUS, NUM_AUS),
    "width": (int, 1, 1024),
    "num_residual_blocks": (int, 0, 64),
    "image_size": (int, 16, 1024),
    "norm_affine": (bool, 0, 1),
    "conv_bias": (bool, 0, 1),
}
"""The generator's ``config.json`` keys: type and range (the same bounds as ``miex train-generator``'s options)."""


def read_pretrained_config(path: Path) -> dict[str, int | bool]:
    """A ``save_pretrained`` folder's ``config.json`` as the generator's arguments; garbage, a wrong type, an
    unknown key or an out-of-range size is a MiexInputError naming the file and the key, before any model is built."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise MiexInputError(f"not a readable generator config.json ({first_line(error)})", file=path) from error
    if not isinstance(config, dict):
        raise MiexInputError(f"expected a JSON object of generator settings, got {type(config).__name__}", file=path)
    unknown = sorted(set(config) - set(CONFIG_FIELDS))
    if unknown:
        raise MiexInputError(
            f"unknown generator setting(s) {unknown} (expected {sorted(CONFIG_FIELDS)})", file=path, field=unknown[0]
        )
    for key, value in config.items():
        kind, low, high = CONFIG_FIELDS[key]
        if kind is bool and not isinstance(value, bool):
            raise MiexInputError(f"expected true or false, got {value!r}", file=path, field=key)
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise MiexInputError(f"expected a whole number from {low} to {high}, got {value!r}", file=path, field=key)
    if config.get("image_size", 128) % 4:
        raise MiexInputError("image_size must be a multiple of 4", file=path, field="image_size")
    return config


def load_generator_weights(
    source: str | PathLike[str] | dict[str, torch.Tensor], *, image_size: int = 128, revision: str | None = None
) -> GANimationNetwork:
    """A generator from a ``save_pretrained`` folder, a Hub model repo ``ORG/NAME`` (at ``revision``), a
    ``.pth``/``.safetensors`` file or an in-memory state_dict."""
    from miex.data.hub import is_repo_id, resolve_pretrained

    on_hub = not isinstance(source, dict) and not Path(source).exists() and is_repo_id(str(source))
    if on_hub or (revision is not None and not isinstance(source, dict)):
        source = resolve_pretrained(source, revision=revision, required=PRETRAINED_FILES).path
    if not isinstance(source, dict) and Path(source).is_dir():
        folder = Path(source)
        for name in PRETRAINED_FILES:
            if not (folder / name).is_file():
                raise MiexInputError(f"missing {name} (expected a folder written by save_pretrained)", file=folder)
        model = GANimationNetwork(**read_pretrained_config(folder / "config.json"))
        weights = folder / "model.safetensors"
        load_into(model, read_state_dict(weights), where=f"{weights} (for the architecture in its config.json)")
        return model
    where = "state_dict" if isinstance(source, dict) else str(source)
    state = to_native(source if isinstance(source, dict) else read_state_dict(source), "generator")
    model = GANimationNetwork(**infer_config(state, "generator"), image_size=image_size)
    load_into(model, state, where=where)
    return model


def load_critic_weights(source: str | PathLike[str] | dict[str, torch.Tensor]) -> GANimationCriticNetwork:
    """A critic from a ``.pth``/``.safetensors`` file or state_dict in any of the three layouts."""
    where = "state_dict" if isinstance(source, dict) else str(source)
    state = to_native(source if isinstance(source, dict) else read_state_dict(source), "critic")
    model = GANimationCriticNetwork(**infer_config(state, "critic"))
    load_into(model, state, where=where)
    return model


CHECKPOINT_MANIFEST = "miex_checkpoint.json"
CHECKPOINT_FORMAT = "miex-ganimation-checkpoint/1"


def _checkpoint_files(folder: Path) -> dict[str, Path]:
    """Every file under ``folder`` except the manifest, by its POSIX path relative to ``folder``."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.name != CHECKPOINT_MANIFEST and (path.is_file() or path.is_symlink())
    }


def write_checkpoint_manifest(folder: str | PathLike[str]) -> Path:
    """Record the sha256 of every file of a just-saved checkpoint folder; written last and atomically, so its presence
    means the save completed."""
    folder = Path(folder)
    manifest = {
        "format": CHECKPOINT_FORMAT,
        "files": {name: sha256_of(path) for name, path in _checkpoint_files(folder).items()},
    }
    with atomic_path(folder / CHECKPOINT_MANIFEST) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return folder / CHECKPOINT_MANIFEST


def is_complete_checkpoint(folder: Path) -> bool:
    """Whether a checkpoint folder's save completed (its manifest exists); used to skip interrupted saves."""
    return (folder / CHECKPOINT_MANIFEST).is_file()


def verify_checkpoint_folder(folder: str | PathLike[str]) -> Path:
    """Refuse a checkpoint folder unless it is exactly what ``miex train-generator`` saved: a manifest listing every
    file, no file added, missing, linked or changed. Nothing in the folder is deserialised before this passes."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MiexInputError(
            "--resume: checkpoint folder not found (give OUT/checkpoints/step_N or 'latest')", file=folder
        )
    manifest_path = folder / CHECKPOINT_MANIFEST
    if not manifest_path.is_file():
        raise MiexInputError(
            f"--resume: no {CHECKPOINT_MANIFEST}: not a checkpoint saved by miex train-generator, or its save was "
            "interrupted; resume from another step_N folder or train without --resume",
            file=folder,
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected = manifest["files"] if manifest.get("format") == CHECKPOINT_FORMAT else None
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise MiexInputError(f"unreadable checkpoint manifest ({error})", file=manifest_path) from error
    if not isinstance(expected, dict):
        raise MiexInputError(
            f"not a {CHECKPOINT_FORMAT} manifest; resume only from checkpoints miex saved", file=manifest_path
        )
    found = _checkpoint_files(folder)
    for name, path in found.items():
        if name not in expected:
            raise MiexInputError(
                "file is not part of the saved checkpoint (added afterwards); refusing to resume from this folder",
                file=path,
            )
        if path.is_symlink():
            raise MiexInputError("checkpoint file is a link; refusing to resume from this folder", file=path)
        if sha256_of(path) != expected[name]:
            raise MiexInputError(
                "checkpoint file changed since it was saved (sha256 differs from the manifest); "
                "refusing to load it, resume from another step_N folder",
                file=path,
            )
    missing = sorted(set(expected) - set(found))
    if missing:
        raise MiexInputError(f"checkpoint is missing {', '.join(missing)} listed in its manifest", file=folder)
    return folder
