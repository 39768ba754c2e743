"""The "kimi before" contender: kimi as it was at an earlier commit, built on the side.

``--baseline REV`` (default `DEFAULT_REV`, the last release) exports that commit's tree
with ``git archive`` into ``build/bench-baseline-<commit>/`` (ignored by git), without
its ``benchmarks/`` and ``tests/``, and builds its extension in place with this
interpreter, once: a finished build leaves a stamp file and is reused by later runs.
A contender named ``NAME@before`` runs the loop of ``NAME`` in a process whose working
directory and first ``PYTHONPATH`` entry are that tree, so ``import kimi`` finds the old
package while ``import benchmarks`` still finds this one (the tree has none). Each run
reports where its ``kimi`` came from and the harness checks it.

Outside a git checkout holding REV (an unpacked sdist, say) the contender is skipped
with a reason; a checkout whose old tree fails to build stops the run.

`Rounds` is what the results of the scenarios with kimi before have in common: the runs
of each contender, their labels, and the rotating rounds that fill them.
"""

from __future__ import annotations

import io
import shutil
import statistics
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

from ._harness import PYTHON, REPO, BenchError, child_env, rotated, wait_settled

DEFAULT_REV = "1f14ea6"
SUFFIX = "@before"
#: What the old tree leaves out: its own benchmarks must not shadow these.
_EXCLUDED = ("benchmarks", "tests")
_STAMP = ".bench-built"


@dataclass(frozen=True)
class Baseline:
    """A built old tree: `rev` as given on the command line, `commit` its full hash,
    `subject` the commit's first line."""

    rev: str
    commit: str
    path: Path
    subject: str = ""

    def where(self) -> str:
        """The built tree, relative to the repository."""
        return str(self.path.relative_to(REPO) if self.path.is_relative_to(REPO) else self.path)

    def describe(self) -> str:
        """One line for the machine table: the commit and where it was built."""
        return f"{self.rev} = commit {self.commit[:12]}, built in `{self.where()}/`"

    def label(self, label: str) -> str:
        """`label` of a contender, marked as this baseline's: "kimi" becomes
        "kimi (before, REV)", "kimi (chunk objects)" "kimi (chunk objects; before, REV)"."""
        if label.endswith(")"):
            return f"{label[:-1]}; before, {self.rev})"
        return f"{label} (before, {self.rev})"


def before(name: str) -> str:
    """The contender name of `name`'s loop run against the baseline."""
    return name + SUFFIX


def split(name: str) -> tuple[str, bool]:
    """(the loop's name, whether it runs against the baseline) of a contender name."""
    if name.endswith(SUFFIX):
        return name[: -len(SUFFIX)], True
    return name, False


def with_before(names: tuple[str, ...], baseline: Baseline | None, of: tuple[str, ...]) -> tuple[str, ...]:
    """`names` with ``NAME@before`` right after each NAME in `of`, when there is a baseline."""
    out: list[str] = []
    for name in names:
        out.append(name)
        if baseline is not None and name in of:
            out.append(before(name))
    return tuple(out)


def label_of(name: str, labels: dict[str, str], baseline: Baseline | None) -> str:
    """The table label of contender `name` (``NAME@before`` included)."""
    base, is_before = split(name)
    if is_before and baseline is not None:
        return baseline.label(labels[base])
    return labels[base]


def import_root(name: str, baseline: Baseline | None) -> Path | None:
    """The tree contender `name` imports kimi from: the baseline's for ``NAME@before``,
    None (the repository) otherwise."""
    return baseline.path if split(name)[1] and baseline is not None else None


def check_origin(name: str, run: dict[str, Any], baseline: Baseline | None, label: str) -> None:
    """BenchError unless the process of `name` imported kimi from the tree it was meant to."""
    origin = run.get("kimi_from")
    if origin is None:
        return
    root = import_root(name, baseline) or REPO
    if Path(origin).resolve() != (root / "kimi").resolve():
        raise BenchError(f"{label} imported kimi from {origin}, not from {root / 'kimi'}")


@dataclass(kw_only=True)
class Rounds:
    """What a scenario's results share: `runs` (contender name -> the result of each
    round), `skipped` (contender name -> why it did not run), `baseline` (None: no kimi
    before) and the class's `LABELS`."""

    LABELS: ClassVar[dict[str, str]] = {}
    baseline: Baseline | None = None
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def label(self, name: str) -> str:
        return label_of(name, self.LABELS, self.baseline)

    def has(self, name: str) -> bool:
        return name in self.runs

    def best(self, name: str, key: str = "cpu") -> float:
        """The least `key` (seconds) of contender `name` over the rounds."""
        return float(min(r[key] for r in self.runs[name]))

    def middle(self, name: str, key: str = "cpu") -> float:
        """The median `key` (seconds) of contender `name` over the rounds."""
        return float(statistics.median(r[key] for r in self.runs[name]))

    def play(
        self, names: Sequence[str], rounds: int, run_one: Callable[[str], dict[str, Any]],
        log: Callable[[str], None],
    ) -> None:
        """Run each of `names` `rounds` times with `run_one`, the order rotating between
        rounds (see `rotated`), and keep every run. A run that reports ``skipped`` (the
        API it measures is missing) records why, and that contender runs no more."""
        width = max(len(self.label(name)) for name in names)
        for round_no, name in rotated(names, rounds):
            if name in self.skipped:
                continue
            run = run_one(name)
            if "skipped" in run:
                self.skipped[name] = run["skipped"]
                log(f"  {self.label(name):<{width}}  skipped: {run['skipped']}")
                continue
            self.runs.setdefault(name, []).append(run)
            log(f"  round {round_no}/{rounds} {self.label(name):<{width}}  "
                f"cpu {run['cpu']:.3f} s  wall {run['wall']:.3f} s")
            wait_settled()


# ---- finding and building the old tree ---------------------------------------------------


def _git(*args: str) -> str | None:
    """stdout of ``git -C REPO args...``, stripped; None if git is missing or fails."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False,
            env=child_env(),
        )
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def resolve(rev: str) -> tuple[str | None, str]:
    """(full commit hash, "") of `rev` in this checkout, or (None, why not)."""
    top = _git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != REPO.resolve():
        return None, f"{REPO} is not a git checkout of its own"
    commit = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if not commit:
        return None, f"this checkout has no commit {rev!r}"
    return commit, ""


def working_tree() -> str:
    """`git describe --always --dirty` of the repository ("-dirty": uncommitted changes,
    which kimi now includes), or a note that it is not a git checkout."""
    return _git("describe", "--always", "--dirty") or "not a git checkout"


def _export(commit: str, dest: Path) -> None:
    """The tree of `commit`, minus `_EXCLUDED`, extracted into `dest` (created)."""
    pathspec = [".", *(f":(exclude){p}" for p in _EXCLUDED)]
    proc = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit, "--", *pathspec],
        capture_output=True, check=False, env=child_env(),
    )
    if proc.returncode != 0:
        raise BenchError(f"git archive {commit}: {proc.stderr.decode(errors='replace').strip()}")
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r:") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:
            tar.extractall(dest)  # git's own archive of a commit: no absolute or .. paths


def _build(tree: Path) -> None:
    """``python setup.py -q build_ext --inplace`` in `tree`, with this interpreter."""
    proc = subprocess.run(
        [PYTHON, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree, env=child_env(),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=900,
    )
    if proc.returncode != 0 or not list((tree / "kimi").glob("_core*.so")):
        raise BenchError(
            f"building the baseline in {tree} failed ({proc.returncode}):\n"
            f"{(proc.stdout + proc.stderr).strip()[-3000:]}"
        )


def prepare(rev: str | None, log: Callable[[str], None] = print) -> tuple[Baseline | None, str]:
    """(the built baseline of `rev`, "") or (None, why there is none); builds it unless
    ``build/bench-baseline-<commit>/`` already holds a finished build."""
    if rev is None:
        return None, "disabled with --baseline none"
    commit, why = resolve(rev)
    if commit is None:
        return None, why
    path = REPO / "build" / f"bench-baseline-{commit[:12]}"
    baseline = Baseline(rev, commit, path, _git("log", "-1", "--format=%s", commit) or "")
    stamp = path / _STAMP
    if stamp.is_file() and stamp.read_text(encoding="ascii").strip() == commit:
        log(f"baseline {rev}: reusing {path.relative_to(REPO)}")
        return baseline, ""
    log(f"baseline {rev}: exporting {commit[:12]} and building it in {path.relative_to(REPO)}")
    partial = path.with_name(path.name + ".partial")
    for stale in (partial, path):
        shutil.rmtree(stale, ignore_errors=True)
    _export(commit, partial)
    _build(partial)
    (partial / _STAMP).write_text(commit + "\n", encoding="ascii")
    partial.rename(path)
    return baseline, ""
