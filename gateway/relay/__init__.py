"""The relay endpoints (WIRE.md "Relay endpoints"), as a raw ASGI app: see dispatch.py."""
