"""Scenario "import": how long `import kimi` and `import openai` take in a fresh interpreter.

Two measures, each the median of several fresh processes, run interleaved after one
discarded warm-up each (so bytecode caches exist for all):
- wall time of ``python -c "import X"`` minus that of ``python -c "pass"``;
- the cumulative time ``python -X importtime`` reports for the top-level package.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from ._harness import PYTHON, REPO, BenchError, child_env, fmt_num, fmt_ratio, median, table

MODULES = ("kimi", "openai")


@dataclass
class ImportResult:
    runs: int
    wall: dict[str, list[float]] = field(default_factory=dict)        # seconds, incl. "pass"
    importtime: dict[str, list[float]] = field(default_factory=dict)  # seconds

    def net(self, module: str) -> float:
        """Median wall of `import module` minus median wall of an empty interpreter."""
        return median(self.wall[module]) - median(self.wall["pass"])

    def cumulative(self, module: str) -> float:
        return median(self.importtime[module])

    def ratio(self) -> float:
        return self.net("openai") / max(self.net("kimi"), 1e-6)

    def importtime_ratio(self) -> float:
        return self.cumulative("openai") / max(self.cumulative("kimi"), 1e-6)


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [PYTHON, *args], cwd=REPO, env=child_env(), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        raise BenchError(f"python {' '.join(args)} failed:\n{proc.stderr.strip()[-2000:]}")
    return proc


def wall_of(code: str) -> float:
    start = time.perf_counter()
    _python("-c", code)
    return time.perf_counter() - start


def importtime_of(module: str) -> float:
    """Seconds -X importtime reports as cumulative for the top-level `module`."""
    stderr = _python("-X", "importtime", "-c", f"import {module}").stderr
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line[len("import time:"):].split("|")
        if len(fields) == 3 and fields[2].rstrip() == f" {module}":
            return int(fields[1]) / 1e6
    raise BenchError(f"python -X importtime: no top-level line for {module}")


def run(runs: int = 7, log: Any = print) -> ImportResult:
    result = ImportResult(runs=runs)
    for module in MODULES:
        wall_of(f"import {module}")  # warm-up: compile bytecode caches
    for i in range(runs):
        for name, code in (("pass", "pass"), *((m, f"import {m}") for m in MODULES)):
            result.wall.setdefault(name, []).append(wall_of(code))
        for module in MODULES:
            result.importtime.setdefault(module, []).append(importtime_of(module))
        log(f"  import run {i + 1}/{runs}: kimi {result.wall['kimi'][-1] * 1e3:.1f} ms, "
            f"openai {result.wall['openai'][-1] * 1e3:.1f} ms, bare {result.wall['pass'][-1] * 1e3:.1f} ms")
    return result


def render(result: ImportResult) -> str:
    rows = []
    for module in MODULES:
        rows.append([
            f"`import {module}`",
            fmt_num(median(result.wall[module]) * 1e3),
            fmt_num(result.net(module) * 1e3),
            fmt_num(result.cumulative(module) * 1e3),
        ])
    rows.append(["`pass` (bare interpreter)", fmt_num(median(result.wall["pass"]) * 1e3), "–", "–"])
    rows.append([
        "openai ÷ kimi", "", fmt_ratio(result.ratio()), fmt_ratio(result.importtime_ratio()),
    ])
    headers = ["", "process wall ms", "import ms (wall − bare)", "-X importtime cumulative ms"]
    return table(headers, rows)
