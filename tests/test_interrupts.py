"""Ctrl-C and a killed launcher (docs/reference.md §File contract).

Ctrl-C at any moment of a command, its first second of imports included, is one line and exit status 130 (never a
traceback, never death by SIGINT); worker processes print nothing and end with the command; the ranks of a
``torchrun`` launch end when the launcher is killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import face_fixtures as ff
import numpy as np
import pytest
from miex_fixtures import TORCHRUN_TWO_RANKS

from miex.core.processes import worker_pool

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **extra}


def _maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, of in parents.items() if of == parent]
        found += kids
        frontier += kids
    return found


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _interrupt(command: list[str], when, cwd: Path, timeout: float = 120, **env: str) -> tuple[int, str]:
    """Start ``command``, send SIGINT once ``when(process)`` holds, and return its exit status and stderr."""
    process = subprocess.Popen(
        command, cwd=cwd, env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(lambda: process.poll() is not None or when(process), timeout, "the moment to interrupt")
        assert process.poll() is None, "the command ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, err


def _importing_numpy(process: subprocess.Popen) -> bool:
    """The command is importing its libraries (numpy's core extension is mapped, the command not started yet)."""
    return "_multiarray_umath" in _maps(process.pid)


def _one_interrupt_line(err: str, prog: str) -> None:
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(prog)]
    assert len(lines) == 1 and "interrupted" in lines[0], err


@pytest.mark.parametrize(
    ("command", "prog"),
    [
        ([sys.executable, "-m", "miex", "synthesize", "--out", "out"], "miex synthesize"),
        ([sys.executable, "-m", "miex", "faces", "photos", "--out", "pool"], "miex faces"),
        ([sys.executable, "train.py", "--recipe", "table1_branches_miex_finetune"], "train.py"),
    ],
)
def test_ctrl_c_while_the_command_imports_is_one_line_and_exit_130(
    command: list[str], prog: str, tmp_path: Path
) -> None:
    if command[1] == "train.py":
        command = [command[0], str(ROOT / "train.py"), *command[2:]]
    code, err = _interrupt(command, _importing_numpy, tmp_path, XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert code == 130, (code, err)  # an exit status, not death by SIGINT (-2)
    _one_interrupt_line(err, prog)


def test_ctrl_c_during_faces_with_workers_stops_them_quietly(tmp_path: Path, miex_cache: Path) -> None:
    """The terminal sends Ctrl-C to the workers too: none prints a traceback and none outlives the command (that
    the queued photos are dropped, not finished, is :func:`test_a_pool_left_by_an_exception_drops_its_queue`)."""
    face = ff.astronaut()
    for number in range(80):
        ff.save(
            tmp_path / "photos" / f"person{number}" / "a.png",
            np.clip(face.astype(int) + number - 20, 0, 255).astype(np.uint8),
        )
    command = [sys.executable, "-m", "miex", "faces", "photos", "--out", "pool", "--workers", "2"]
    workers: list[int] = []

    def two_workers(process: subprocess.Popen) -> bool:
        workers[:] = [pid for pid in _children(process.pid) if "spawn_main" in _cmdline(pid)]
        return len(workers) >= 2 and all("_multiarray_umath" in _maps(pid) for pid in workers)

    code, err = _interrupt(command, two_workers, tmp_path, XDG_CACHE_HOME=str(miex_cache))
    assert code == 130, (code, err)
    _one_interrupt_line(err, "miex faces")
    _wait_for(
        lambda: not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in workers),
        10,
        "the workers to end",
    )


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def _sleep_a_while(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_pool_left_by_an_exception_drops_its_queue() -> None:
    """Leaving the block early (Ctrl-C is such an exception) cancels the queued jobs instead of running all 40 (only
    the jobs already handed to the 2 workers, and the few queued beside them, escape cancelling)."""
    with pytest.raises(KeyboardInterrupt), worker_pool(2, "spawn") as pool:
        futures = [pool.submit(_sleep_a_while, 1.0) for _ in range(40)]
        raise KeyboardInterrupt
    assert sum(future.cancelled() for future in futures) >= 30


@pytest.mark.slow
def test_ranks_end_when_torchrun_is_killed(tmp_path: Path, miex_cache: Path) -> None:
    """``kill -9`` of ``torchrun ... builder.py`` ends both ranks (none is left running, reparented, for minutes)."""
    command = [
        *TORCHRUN_TWO_RANKS,
        str(ROOT / "builder.py"),
        "--out",
        "out",
        "--samples-per-identity",
        "20000",
    ]
    launcher = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=_env(XDG_CACHE_HOME=str(miex_cache)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ranks: list[int] = []
    try:

        def two_ranks_working() -> bool:
            ranks[:] = [pid for pid in _children(launcher.pid) if "builder.py" in _cmdline(pid)]
            return len(ranks) == 2 and all("libtorch_cpu" in _maps(pid) for pid in ranks)

        _wait_for(two_ranks_working, 120, "two ranks")
        time.sleep(2.0)  # well into the run
        assert all(_state(pid) != "Z" for pid in ranks), "the ranks ended before the launcher was killed"
        launcher.kill()
        launcher.wait(timeout=30)
        _wait_for(lambda: all(_state(pid) == "Z" for pid in ranks), 20, "the ranks to end with their launcher")
    finally:
        for pid in ranks:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if launcher.poll() is None:
            launcher.kill()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
