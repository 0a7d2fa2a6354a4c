"""The studio's refusals: an error with the HTTP status to answer (the apps' error handlers in
server/shared.py turn it into {"error": message})."""

from __future__ import annotations

from ...errors import TextfitError


class StudioError(TextfitError):
    """A request the studio refuses, with the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def naming_the_upload(exc: Exception, path, display: str) -> StudioError:
    """A data error about a file the studio keeps, naming it as the user does (`display`), never by
    the studio's own folders."""
    return StudioError(str(exc).replace(str(path), f"'{display}'"))


def error_message(exc: Exception) -> str:
    """What a page shows of an error a background task met: its own words for a textfit error."""
    return str(exc) if isinstance(exc, TextfitError) else f"{type(exc).__name__}: {exc}"
