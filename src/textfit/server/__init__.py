"""HTTP layers over the library: `textfit serve` (a model behind an API) and `textfit studio`
(fine-tuning without code, in a browser). Both only call the public library API.

fastapi, uvicorn and python-multipart are the optional `server` extra, imported here lazily."""

from __future__ import annotations


def require_server_extra() -> None:
    """Fail with advice, not an ImportError, when the `server` extra is missing."""
    from ..errors import TextfitError

    missing = []
    for module in ("fastapi", "uvicorn", "multipart"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise TextfitError(
            f"the web server needs {', '.join(missing)}: install them with pip install 'textfit[server]'"
        )
