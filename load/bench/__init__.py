"""Issue 6's side-by-side benchmark: the gateway's overhead against the mock, a minimal relay and peers.

`python -m load.bench --help`; method, placement and results in docs/PERFORMANCE.md.
Modules: configs (mock, direct, relay, gateway), peers (LiteLLM, Portkey), relay (the
yardstick), mockproc (the mock's launcher), wrk, streams, sampling (RSS, CPU), profile
(py-spy), report (aggregates, targets, table), stats.
"""
