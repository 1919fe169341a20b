"""py-spy profiles of a running target, and its hot spots as a table.

`record()` attaches py-spy to the pid for a while (it runs on the load core; the target is
paused briefly at each sample, so profiled runs are extra runs, never the measured ones).
`hot_spots()` reads py-spy's collapsed stacks ("f1;f2;f3 count" per line, function-level
with --nolineno; --gil: only the thread holding the GIL, i.e. the Python work
of a process whose event loop drops the GIL while it waits, and not aiosqlite's idle thread): self time is where the CPU was, inclusive time is what a call cost.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

from .procs import pinned


def available() -> bool:
    return shutil.which("py-spy") is not None


def record(pid: int, out: Path, *, seconds: float, fmt: str, cpu: int | None, rate: int = 200) -> subprocess.Popen:
    """Start py-spy in the background; `wait()` on the result once the load is over."""
    cmd = pinned(["py-spy", "record", "--pid", str(pid), "--duration", f"{max(1, round(seconds))}",
                  "--rate", str(rate), "--format", fmt, "--nolineno", "--gil", "--output", str(out)], cpu)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout_s: float = 60) -> None:
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError("py-spy did not finish") from None
    if proc.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.strip()[-500:]}")


# frames every sample of a server passes through: they say nothing about where the time goes
TRUNK_FILES = ("<frozen runpy>", "asyncio/runners.py", "uvicorn/main.py", "uvicorn/server.py",
               "uvicorn/_compat.py", "topapi/cli.py", "gateway/cli.py", "threading.py")


def hot_spots(collapsed: str, top: int = 20, project: str = "gateway/") -> dict:
    """{samples, self, inclusive, project, files}: lists of (share of samples, frame or file);
    `project` is the inclusive time of the frames in files under `project`."""
    self_n: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    files: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = stack.split(";")
        self_n[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
        leaf_file = frames[-1].rpartition("(")[2].rstrip(")")
        files[_short(leaf_file)] += count
    if not total:
        return {"samples": 0, "self": [], "inclusive": [], "project": [], "files": []}

    def share(c: Counter[str], keep=lambda _: True) -> list[tuple[float, str]]:
        return [(round(n / total, 4), f) for f, n in c.most_common() if keep(f)][:top]

    def file_of(frame: str) -> str:
        return frame.rpartition("(")[2].rstrip(")")

    return {"samples": total, "self": share(self_n),
            "inclusive": share(incl, lambda f: not file_of(f).endswith(TRUNK_FILES)),
            "project": share(incl, lambda f: file_of(f).startswith(project) and not file_of(f).endswith(TRUNK_FILES)),
            "files": share(files)}


def _short(path: str) -> str:
    """py-spy names files relative to sys.path already; drop what is left of a site-packages prefix."""
    return path.rpartition("site-packages/")[2]
