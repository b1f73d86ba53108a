"""LC managers, one per resource kind, keyed by the lower-cased kind the GM sends (gm-lc-protocol §2.2)."""
