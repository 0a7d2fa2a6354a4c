"""GET /api/runs/{id}/files/{name} (a result file), GET /api/runs/{id}/download (the model's .zip),
POST /api/runs/{id}/export (ONNX, {"quantize": true} for int8)."""

# No `from __future__ import annotations`: FastAPI reads the request model's annotations when the
# route is made, and a class inside the factory would not resolve from a string.
from .service import Downloads


def downloads_router(downloads: Downloads):
    from fastapi import APIRouter
    from fastapi.responses import FileResponse
    from pydantic import BaseModel

    router = APIRouter()

    class Export(BaseModel):
        quantize: bool = False

    @router.get("/api/runs/{run_id}/files/{name}")
    def result_file(run_id: str, name: str):
        return FileResponse(downloads.result_file(run_id, name), headers={"Cache-Control": "no-cache"})

    @router.get("/api/runs/{run_id}/download")
    def download(run_id: str):
        path = downloads.archive(run_id)
        return FileResponse(path, media_type="application/zip", filename=path.name)

    @router.post("/api/runs/{run_id}/export")
    async def export(run_id: str, request: Export | None = None):
        return await downloads.export(run_id, (request or Export()).quantize)

    return router
