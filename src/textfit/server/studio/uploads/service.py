"""The uploads the studio keeps: stored under `<workdir>/uploads/<id>/<file>`, recorded in the
store, previewed for the page."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ..errors import StudioError
from ..store import RunStore, valid_id
from .incoming import IncomingUpload, write_stream
from .preview import preview_file

UNUSED_UPLOAD_DAYS = 7
"""An upload that no run, labeling project or classifying job uses is removed when the studio starts,
once this old: the page lists no uploads, so nothing can reach it any more (a form left open that long
asks for its file again)."""


class Uploads:
    def __init__(self, store: RunStore, root: Path, max_bytes: int):
        self.store, self.root, self.max_bytes = store, root, max_bytes
        root.mkdir(parents=True, exist_ok=True)

    def path(self, upload: dict) -> Path:
        """Where an upload's file is (an upload record from the store)."""
        return self.root / upload["id"] / upload["filename"]

    def id_of(self, path: str | Path) -> str | None:
        """The upload whose file `path` is (the inverse of `path`), or None for a file not uploaded here."""
        path = Path(path)
        return path.parent.name if path.parent.parent == self.root else None

    def get(self, upload_id: str, missing: str = "no such upload") -> dict:
        upload = self.store.get_upload(upload_id)
        if upload is None:
            raise StudioError(missing, 404)
        return upload

    def incoming(self, original_name: str, also: tuple[str, ...] = ()) -> IncomingUpload:
        """A new upload to write into, within the studio's size limit (`also`: more file endings accepted)."""
        return IncomingUpload(self.root, original_name, self.max_bytes, also)

    def add(self, source, original_name: str) -> dict:
        """Store a file-like object (a multipart upload, the sample) as a new upload and describe it."""
        with self.incoming(original_name) as upload:
            while chunk := source.read(1 << 20):
                upload.write(chunk)
            upload.finish()
            return self.register(upload)

    async def receive(self, chunks, original_name: str) -> dict:
        """Store a request body as it arrives, never whole in memory, as a new upload and describe it."""
        return await write_stream(self.incoming(original_name), chunks, self.register)

    def register(self, upload: IncomingUpload) -> dict:
        preview = preview_file(upload.path, upload.original_name)
        self.store.add_upload(
            upload.id, upload.filename, upload.original_name, upload.size, preview["rows"], preview["columns"]
        )
        return {"upload": self.store.get_upload(upload.id), **preview}

    def preview(
        self,
        upload_id: str,
        text_column: str | None = None,
        label_column: str | None = None,
        label_separator: str | None = None,
    ) -> dict:
        upload = self.get(upload_id)
        preview = preview_file(self.path(upload), upload["original_name"], text_column, label_column, label_separator)
        return {"upload": upload, **preview}

    def remove_unused(self, in_use: set[str], older_than_days: float = UNUSED_UPLOAD_DAYS) -> list[dict]:
        """Remove every upload not in `in_use` and older than `older_than_days`: the record first (a
        folder left behind is harmless, a record without its file is not), then its folder."""
        cutoff, removed = time.time() - older_than_days * 86_400, []
        for upload in self.store.list_uploads():
            if upload["id"] in in_use or upload["created"] > cutoff or not valid_id(upload["id"]):
                continue
            self.store.delete_upload(upload["id"])
            shutil.rmtree(self.root / upload["id"], ignore_errors=True)  # follows no links
            removed.append(upload)
        return removed
