"""Insight: what the run page says about a model beyond its score; the service and its routes."""
