"""The peers' installs, on demand, in a work folder (a temporary one by default): LiteLLM in a venv of its
own, Portkey's gateway with npm. An install that is already there is reused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


class InstallError(RuntimeError):
    pass


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    command: list[str]  # how to start it (the port is added by the caller)


def _run(cmd: list[str], cwd: Path, log: Path, what: str, timeout: float = 1800) -> None:
    print(f"  {what} (log: {log}) ...", flush=True)
    with log.open("ab") as out:
        proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise InstallError(f"{what} failed (exit {proc.returncode}): " + " | ".join(tail))


def litellm(workdir: Path, spec: str = "litellm[proxy]") -> Installed:
    venv = workdir / "litellm-venv"
    exe = venv / "bin" / "litellm"
    if not exe.exists():
        _run([sys.executable, "-m", "venv", str(venv)], workdir, workdir / "litellm-install.log", "python -m venv")
        _run([str(venv / "bin" / "pip"), "install", "-q", spec], workdir, workdir / "litellm-install.log",
             f"pip install '{spec}' into {venv}")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import sys; from importlib.metadata import version "
                          "as v; print(v('litellm'), f'(python {sys.version.split()[0]})')"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise InstallError(f"litellm is not importable in {venv}: {out.stderr.strip()[-300:]}")
    return Installed("LiteLLM proxy", out.stdout.strip(), [str(exe)])


def portkey(workdir: Path, spec: str = "@portkey-ai/gateway") -> Installed:
    home = workdir / "portkey"
    package = home / "node_modules" / "@portkey-ai" / "gateway"
    server = package / "build" / "start-server.js"
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise InstallError("Portkey's gateway needs node and npm on the PATH")
    if not server.exists():
        home.mkdir(parents=True, exist_ok=True)
        _run([npm, "install", "--no-audit", "--no-fund", spec], home, workdir / "portkey-install.log",
             f"npm install {spec} in {home}")
    version = json.loads((package / "package.json").read_text())["version"]
    runtime = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    return Installed("Portkey gateway", f"{version} (node {runtime})", [node, str(server)])
