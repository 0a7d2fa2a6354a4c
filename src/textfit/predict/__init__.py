"""Classifying files of any size: the streaming engine (batch) and the same engine on Ray Data
(ray_engine)."""
