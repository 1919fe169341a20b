"""One module per wire format, each implementing `base.Dialect` (see base.py and docs/GATEWAY.md)."""
