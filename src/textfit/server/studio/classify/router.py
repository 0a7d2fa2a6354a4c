"""The routes of "Classify a file": upload, look, start, follow, stop, download.

PUT  /api/uploads/to-classify             a file to classify, streamed to disk
GET  /api/uploads/{upload}/to-classify    its sheets, columns and first rows
POST /api/runs/{run}/classify             classify it with the run's model (202)
GET  /api/runs/{run}/classify             the job as it stands
POST /api/runs/{run}/classify/stop        stop it (nothing is saved)
GET  /api/runs/{run}/classify/download    the classified file (?format=csv|xlsx)"""

# No `from __future__ import annotations`: FastAPI reads the request model's annotations when the
# route is made, and a class inside the factory would not resolve from a string.
from .service import FileJobs

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def classify_router(jobs: FileJobs):
    from fastapi import APIRouter, Query, Request
    from fastapi.responses import FileResponse
    from pydantic import BaseModel, ConfigDict, Field

    router = APIRouter()

    class StartJob(BaseModel):
        model_config = ConfigDict(extra="forbid")
        upload_id: str = Field(..., max_length=100)
        text_column: str | None = Field(None, max_length=1000)
        sheet: str | None = Field(None, max_length=1000)
        min_confidence: float | None = Field(None, ge=0, le=1)

    @router.put("/api/uploads/to-classify")
    async def upload_to_classify(request: Request, filename: str = Query(..., max_length=1000)):
        """A file to classify, streamed to disk as it arrives (the same store and limits as a training upload)."""
        return await jobs.receive(request.stream(), filename)

    @router.get("/api/uploads/{upload_id}/to-classify")
    def describe(upload_id: str, sheet: str | None = Query(None, max_length=1000)):
        return jobs.describe_upload(upload_id, sheet)

    @router.post("/api/runs/{run_id}/classify", status_code=202)
    def start(run_id: str, request: StartJob):
        return {"job": jobs.start(run_id, **request.model_dump())}

    @router.get("/api/runs/{run_id}/classify")
    def state(run_id: str):
        return {"job": jobs.state(run_id)}  # a malformed id: 404 (runs.folder)

    @router.post("/api/runs/{run_id}/classify/stop")
    def stop(run_id: str):
        return {"job": jobs.stop(run_id)}

    @router.get("/api/runs/{run_id}/classify/download")
    def download(run_id: str, format: str = "csv"):
        path, name = jobs.result(run_id, format)
        media = "text/csv" if format == "csv" else XLSX
        return FileResponse(path, media_type=media, filename=name, headers={"Cache-Control": "no-cache"})

    return router
