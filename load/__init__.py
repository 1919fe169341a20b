"""Locust scenarios for LLM gateways, with SLO gates (docs/LOAD.md).

`locustfile.py` is the entry point (plain `locust -f load/locustfile.py`), `cli.py` is `topapi
load`. A run: `run.py` wires Locust's events; `users.py` and `calls.py` make the requests;
`streams.py` and `dialects.py` time the streams; `recorder.py` ships raw `samples.py` records
from workers to the master; `summary.py`, `slo.py` and `plots.py` report; `nodes.py`,
`failover.py` and `mockctl.py` read and drive the mocks behind a gateway; `capacity.py` is the
load generator's own benchmark. Speaks HTTP only (and the mocks' control API): never imports
`gateway` or `mocks`.
"""
