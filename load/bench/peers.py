"""The peer gateways, when they are installed: LiteLLM proxy and Portkey's open-source gateway.

Neither is a dependency of this project. Install them beside it (see docs/PERFORMANCE.md):

    python -m venv /tmp/litellm-venv && /tmp/litellm-venv/bin/pip install 'litellm[proxy]'
    mkdir -p /tmp/portkey && cd /tmp/portkey && npm init -y && npm install @portkey-ai/gateway

`find_litellm()` / `find_portkey()` return None (and the benchmark says it skips the peer) when
nothing is found. Both peers run one worker on the target core, pointed at the same mock.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

from .configs import MOCK_KEY, MODEL, Mock, Target
from .procs import HOST, Proc, free_port

LITELLM_PLACES = (Path("/tmp/litellm-venv/bin/litellm"),)
PORTKEY_PLACES = (Path("/tmp/portkey"), Path.cwd())
PORTKEY_SERVER = Path("node_modules/@portkey-ai/gateway/build/start-server.js")

# LiteLLM's uvicorn logs every request at INFO; the other configurations log none, so neither does it here
LITELLM_LOG_CONFIG = {"version": 1, "disable_existing_loggers": False,
                      "handlers": {"console": {"class": "logging.StreamHandler"}},
                      "root": {"handlers": ["console"], "level": "WARNING"},
                      "loggers": {"uvicorn.access": {"level": "WARNING"}, "LiteLLM": {"level": "WARNING"},
                                  "LiteLLM Proxy": {"level": "WARNING"}, "LiteLLM Router": {"level": "WARNING"}}}


def find_litellm(given: str | None) -> Path | None:
    if given:
        return Path(given) if Path(given).exists() else None
    found = shutil.which("litellm")
    if found:
        return Path(found)
    return next((p for p in LITELLM_PLACES if p.exists()), None)


def find_portkey(given: str | None) -> Path | None:
    """The directory holding node_modules/@portkey-ai/gateway (and `node` on PATH)."""
    if not shutil.which("node"):
        return None
    places = (Path(given),) if given else PORTKEY_PLACES
    return next((p for p in places if (p / PORTKEY_SERVER).exists()), None)


def litellm_version(exe: Path) -> str:
    python = exe.parent / "python"
    try:
        out = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.strip() or "?"


def portkey_version(root: Path) -> str:
    try:
        return json.loads((root / "node_modules/@portkey-ai/gateway/package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def litellm(mock: Mock, exe: Path, *, cpu: int | None, log_dir: Path) -> Target:
    """`litellm --config` with one model on the mock, one worker, no database (so no spend logs,
    and `disable_spend_logs` besides), a master key (LiteLLM refuses to start without one)."""
    work = log_dir / "litellm"
    work.mkdir(exist_ok=True)
    master = "sk-bench-" + secrets.token_hex(8)
    config = {"model_list": [{"model_name": MODEL, "litellm_params": {
                  "model": f"openai/{MODEL}", "api_base": mock.url + "/v1", "api_key": MOCK_KEY}}],
              "general_settings": {"disable_spend_logs": True},
              "litellm_settings": {"telemetry": False}}
    (work / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    (work / "logging.json").write_text(json.dumps(LITELLM_LOG_CONFIG))
    port = free_port()
    env = {"LITELLM_MASTER_KEY": master, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR",
           "LITELLM_TELEMETRY": "False", "DISABLE_ADMIN_UI": "True"}
    proc = Proc("litellm", [str(exe), "--config", str(work / "config.yaml"), "--host", HOST, "--port", str(port),
                            "--num_workers", "1", "--log_config", str(work / "logging.json")],
                cpu=cpu, log_dir=log_dir, env=env, cwd=work)
    url = f"http://{HOST}:{port}"
    proc.wait_http(url + "/health/liveliness", 120)
    return Target("litellm", "LiteLLM proxy", url, {"Authorization": f"Bearer {master}"}, proc,
                  version=litellm_version(exe), notes=["no database: spend logs off", "master key auth"])


def portkey(mock: Mock, root: Path, *, cpu: int | None, log_dir: Path) -> Target:
    """Portkey's gateway in one node process, told per request which provider and host to use."""
    port = free_port()
    proc = Proc("portkey", ["node", str(root / PORTKEY_SERVER), f"--port={port}", "--headless"],
                cpu=cpu, log_dir=log_dir, cwd=root, env={"NODE_ENV": "production"})
    url = f"http://{HOST}:{port}"
    proc.wait_http(url + "/", 60)
    headers = {"Authorization": f"Bearer {MOCK_KEY}", "x-portkey-provider": "openai",
               "x-portkey-custom-host": mock.url + "/v1"}
    return Target("portkey", "Portkey gateway", url, headers, proc, version=portkey_version(root))
