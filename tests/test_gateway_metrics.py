"""The Prometheus metrics (issue 11): the Grafana dashboard in docs/ reads only metrics the gateway has."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import gateway.metrics  # noqa: F401  (registers the metrics)

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana-topapi.json"


def exposed_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        for sample in family.samples:
            names.add(sample.name)
    for collector in list(REGISTRY._collector_to_names):  # histograms without samples yet
        names.update(REGISTRY._collector_to_names[collector])
    return names


def test_the_dashboard_queries_only_metrics_the_gateway_exposes() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\btopapi_[a-z_]+", e)}
    assert used, "the dashboard has no topapi queries"
    missing = used - exposed_names()
    assert not missing, f"the dashboard queries metrics the gateway does not have: {sorted(missing)}"
    declared = {n for n in exposed_names() if n.startswith("topapi_")}
    families = {re.sub(r"_(bucket|count|sum|created|total)$", "", n) for n in declared}
    shown = {re.sub(r"_(bucket|count|sum|created|total)$", "", n) for n in used}
    assert families <= shown, f"metrics no panel shows: {sorted(families - shown)}"
