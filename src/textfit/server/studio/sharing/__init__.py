"""Sharing: "Serve this model", a `textfit serve` process per run; the service and its routes."""
