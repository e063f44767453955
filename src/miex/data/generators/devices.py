"""``--device``: a torch device this machine has, checked where the option enters.

Shared by every command with ``--device`` (``miex eval-generator``, ``miex synthesize``) and by the generators'
Python API, so ``--device cuda`` on a CPU-only torch or ``--device banana`` is one line naming the option and the
devices that exist, never an assertion from inside torch. Torch is imported only when a value is checked, so the
commands' ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from miex.core.errors import MiexInputError

if TYPE_CHECKING:
    import torch

__all__ = ["available_devices", "device_problem", "parse_device", "resolve_device"]


def available_devices() -> list[str]:
    """The devices this torch can run on here: ``cpu``, then every ``cuda:N``, ``mps`` and ``xpu:N`` present."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        found += [f"xpu:{index}" for index in range(xpu.device_count())]
    return found


def device_problem(text: str) -> str | None:
    """Why ``text`` is not a device this machine can use (naming the ones it can), or None when it is."""
    import torch

    choices = ", ".join(available_devices())
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        return f"{text!r} is not a torch device; this machine has: {choices}"
    if device.type == "cpu":
        return None
    if device.type in ("cuda", "xpu"):
        backend = getattr(torch, device.type)
        count = backend.device_count() if backend.is_available() else 0
        if count == 0:
            why = (
                "this torch has no CUDA support"
                if device.type == "cuda" and not torch.backends.cuda.is_built()
                else f"no {device.type.upper()} device is visible"
            )
            return f"{text!r} is not available ({why}); this machine has: {choices}"
        if device.index is not None and device.index >= count:
            return f"{text!r} is not available (only {count} {device.type} device(s)); this machine has: {choices}"
        return None
    if device.type == "mps" and "mps" in choices.split(", "):
        return None
    return f"{text!r} is not available here; this machine has: {choices}"


def parse_device(text: str) -> str:
    """An argparse type: ``text`` when it names a device this machine has (argparse then names the option)."""
    problem = device_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def resolve_device(device: str | torch.device | None, *, option: str = "--device") -> torch.device:
    """``device`` as a :class:`torch.device` (None: the first GPU when there is one, else the CPU); a device this
    machine lacks is a MiexInputError naming ``option`` and the devices it has."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        device = str(device)
    problem = device_problem(device)
    if problem is not None:
        raise MiexInputError(problem, field=option)
    return torch.device(device)
