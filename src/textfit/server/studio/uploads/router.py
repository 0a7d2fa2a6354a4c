"""PUT|POST /api/uploads (a data file), POST /api/uploads/sample, GET /api/uploads/{id} (its preview;
?label_separator= answers the question where several labels per row are joined unclearly)."""

# No `from __future__ import annotations` in a router: FastAPI reads each handler's annotations when
# the route is made, and names imported inside the factory would not resolve from a string.
from typing import Annotated

from .service import Uploads


def uploads_router(uploads: Uploads):
    from fastapi import APIRouter, File, Query, Request, UploadFile

    from ....data.labeled import SAMPLE_DATA

    router = APIRouter()

    @router.put("/api/uploads")
    async def upload_stream(request: Request, filename: str = Query(..., max_length=1000)):
        """The page's upload: the body is the file, written to disk as it arrives (never held in memory)."""
        return await uploads.receive(request.stream(), filename)

    @router.post("/api/uploads")
    def upload(file: Annotated[UploadFile, File()]):
        """A multipart form upload (curl -F file=@data.csv); python-multipart spools it first."""
        return uploads.add(file.file, file.filename or "")

    @router.post("/api/uploads/sample")
    def upload_sample():
        with SAMPLE_DATA.open("rb") as source:
            return uploads.add(source, SAMPLE_DATA.name)

    @router.get("/api/uploads/{upload_id}")
    def preview(
        upload_id: str,
        text_column: str | None = None,
        label_column: str | None = None,
        label_separator: str | None = Query(None, max_length=10),  # the page's answer where the file is unclear
    ):
        return uploads.preview(upload_id, text_column, label_column, label_separator)

    return router
