"""`python -m conformance.peers`: the suite against gateways that are not ours, in front of our mocks.

A script, not a test: it installs the peers on demand into a temporary folder (never into the project's
dependencies), starts `topapi mock all` (with a key of its own, so that a relay has to pass the key on),
starts each peer in front of the mocks, runs `topapi check` against it, replays the reproduction of every
root cause against the peer and the same request against the mock, and writes docs/PEERS.md.

- LiteLLM proxy (`pip install 'litellm[proxy]'` in its own venv): a model list pointing at the mocks
  (Gemini's `api_base` ends in /v1beta), a master key, no database.
- Portkey's gateway (`npm install @portkey-ai/gateway`; `node .../build/start-server.js --port=P --headless`):
  keyless by design, it forwards the caller's key to the provider named by `x-portkey-provider`, at
  `x-portkey-custom-host`; one run per mock it can front (OpenAI, and Sora's videos).

Modules: install.py (the peers' installs), procs.py (processes: mocks, peers), replay.py (a reproduction
sent again to the peer and to the mock), doc.py (PEERS.md), __main__.py (the run).
"""
