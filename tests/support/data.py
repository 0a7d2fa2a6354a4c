"""Where the real data lives (never committed): tests that read it skip without it."""

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
TOPIC_CSV = SHARED_DATA / "twitter-financial-news-topic" / "train.csv"
