"""Wall time of the surfaces a user meets before any work runs: ``miex --help``, every ``miex COMMAND --help``,
``miex train --list-recipes`` and ``python -c "import miex; help(miex)"``, against ``python -c pass`` measured in the
same run. Prints one JSON object: each surface's median and fastest time over ``--runs`` runs (after one warm-up
run, so every figure is a warm file cache), the limit (2 s on an idle 2-core machine), and the ratios
latency / limit and latency / bare Python. Each run is a fresh process, started from an empty temporary folder.

    python benchmarks/bench_help_latency.py                       # every surface, 5 runs each
    python benchmarks/bench_help_latency.py --runs 9 --only train --only help
    python benchmarks/bench_help_latency.py --launcher module     # `python -m miex` instead of `miex`

Timings are figures to read, never pass/fail tests: a loaded machine is slower.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LIMIT_S = 2.0
"""The budget of every surface on an idle 2-core machine."""
BARE = ["-c", "pass"]
"""The bare interpreter's arguments: the floor every surface stands on."""


def command_names() -> list[str]:
    """The ``miex`` subcommands, read from the command table (importing it loads no command module)."""
    from miex.cli import COMMANDS

    return [command.name for command in COMMANDS]


def launcher(kind: str) -> list[str]:
    """How ``miex`` is started: the installed console script, or ``python -m miex`` (same code)."""
    script = shutil.which("miex")
    if kind == "script" or (kind == "auto" and script):
        if not script:
            raise SystemExit("bench_help_latency: no `miex` on PATH; install the package or pass --launcher module")
        return [script]
    return [sys.executable, "-m", "miex"]


def surfaces(miex: list[str]) -> dict[str, list[str]]:
    """Label -> argv of every surface measured, the bare interpreter first."""
    found = {"python -c pass": [sys.executable, *BARE], "miex --help": [*miex, "--help"]}
    for name in command_names():
        found[f"miex {name} --help"] = [*miex, name, "--help"]
    found["miex train --list-recipes"] = [*miex, "train", "--list-recipes"]
    found["help(miex)"] = [sys.executable, "-c", "import miex; help(miex)"]
    return found


def seconds(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall time of one run; a failing run stops the benchmark with its error (a broken surface has no latency)."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or (argv[1:] != BARE and not done.stdout.strip()):
        raise SystemExit(f"bench_help_latency: {' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return elapsed


def measure(argv: list[str], runs: int, cwd: Path, env: dict[str, str]) -> dict[str, float]:
    seconds(argv, cwd, env)  # warm-up: file cache, bytecode
    times = [seconds(argv, cwd, env) for _ in range(runs)]
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3)}


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, how busy they were, the interpreter."""
    load = round(os.getloadavg()[0], 2)
    return {"cpus": os.cpu_count(), "load_average_1m": load, "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per surface (median reported; default 5)")
    parser.add_argument(
        "--launcher",
        choices=("auto", "script", "module"),
        default="auto",
        help="`miex` console script (auto: when on PATH) or `python -m miex`",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="measure only surfaces whose label contains TEXT (repeatable; bare Python always runs)",
    )
    args = parser.parse_args(argv)
    env = {**os.environ, "PAGER": "cat"}
    measured: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="miex-bench-help-") as folder:
        cwd = Path(folder)
        for label, command in surfaces(launcher(args.launcher)).items():
            if label != "python -c pass" and args.only and not any(text in label for text in args.only):
                continue
            measured[label] = measure(command, args.runs, cwd, env)
    bare = measured.pop("python -c pass")["median_s"]
    for figures in measured.values():
        figures["ratio_to_limit"] = round(figures["median_s"] / LIMIT_S, 3)
        figures["ratio_to_bare_python"] = round(figures["median_s"] / bare, 2) if bare else None
    slowest = max(measured, key=lambda label: measured[label]["median_s"], default=None)
    report = {
        "benchmark": "help_latency",
        "limit_s": LIMIT_S,
        "runs": args.runs,
        "bare_python_s": bare,
        "launcher": " ".join(launcher(args.launcher)),
        "machine": machine(),
        "surfaces": measured,
        "slowest": slowest,
        "all_within_limit": all(figures["median_s"] <= LIMIT_S for figures in measured.values()),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
