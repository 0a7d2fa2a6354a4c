"""Is the Hugging Face hub reachable? Asked once, answered in about a second.

Without this check an offline machine spends 25-50 s in the hub client's retries before it fails;
with it, textfit falls back to local data at once and says why."""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse


def looks_like_hub_id(name: str) -> bool:
    """`owner/name` or `name`, without a file extension or a path separator beyond the one slash."""
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(parts) and not os.path.splitext(name)[1]


@functools.cache
def hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def offline_hint(name: str) -> str:
    return (
        f"'{name}' is not a local path, and the Hugging Face hub cannot be reached from this machine "
        "(no network, or HF_HUB_OFFLINE=1)."
    )
