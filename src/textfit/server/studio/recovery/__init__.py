"""Recovery: workers a crashed studio left are adopted; an ended run is trained again."""
