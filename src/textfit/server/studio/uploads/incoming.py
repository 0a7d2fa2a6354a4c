"""A data file received into the studio's uploads/<id>/ as its bytes arrive: the size limit
enforced while reading, nothing left behind when it fails."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

from ...shared import human_bytes
from ..errors import StudioError
from ..store import new_id


def safe_filename(name: str, also: tuple[str, ...] = ()) -> str:
    """The last path component of `name`, restricted to letters, digits, '.', '-' and '_'; a data
    file's extension (or one of `also`)."""
    from ....data.labeled import FORMATS

    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._-")[:100]
    suffix = Path(base).suffix.lower()
    if suffix == ".xls":
        raise StudioError(
            f"'{name}': the old Excel format (.xls, Excel 97-2003) is not read. Open it in Excel and "
            "save it as an Excel Workbook (.xlsx) or as CSV UTF-8, then upload that.",
            415,
        )
    if suffix not in FORMATS and suffix not in also:
        raise StudioError(
            f"'{name}' is not a data file textfit can read: use CSV, TSV, Excel (.xlsx), JSON Lines, JSON or Parquet "
            f"({', '.join(sorted(FORMATS))})",
            415,
        )
    stem = Path(base).stem or "data"
    return stem + suffix


class IncomingUpload:
    """One file being received into `root`/<new id>/<safe name>, chunk by chunk.

    with IncomingUpload(root, "my data.csv", limit) as upload:
        for chunk in chunks:
            upload.write(chunk)      # 413 as soon as the limit is passed
        upload.finish()              # 400 when empty
        ...describe it...            # any error here removes the folder too
    """

    def __init__(self, root: Path, original_name: str, limit: int, also: tuple[str, ...] = ()):
        self.original_name = original_name
        self.filename = safe_filename(original_name, also)
        self.id = new_id("data")
        self.folder = Path(root) / self.id
        self.path = self.folder / self.filename
        self.limit = limit
        self.size = 0
        self._out = None

    def __enter__(self) -> IncomingUpload:
        self.folder.mkdir(parents=True)
        self._out = self.path.open("wb")
        return self

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise StudioError(f"'{self.original_name}' is larger than the limit of {human_bytes(self.limit)}", 413)
        self._out.write(chunk)

    def finish(self) -> None:
        self._out.close()
        if self.size == 0:
            raise StudioError(f"'{self.original_name}' is empty")

    def __exit__(self, kind, error, traceback) -> None:
        self._out.close()
        if kind is not None:  # refused, cut off or unreadable: leave nothing half-stored
            shutil.rmtree(self.folder, ignore_errors=True)


async def write_stream(upload: IncomingUpload, chunks, register):
    """Write a request body into `upload` as it arrives (never whole in memory), then describe and
    record it with `register(upload)` in a thread."""
    with upload:
        async for chunk in chunks:
            upload.write(chunk)  # a local disk write of one network chunk: short enough for the event loop
        upload.finish()
        return await asyncio.to_thread(register, upload)
