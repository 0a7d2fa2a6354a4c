"""Uploads: a data file streamed to disk (incoming.py), previewed for the page (preview.py); the
service and its routes."""
