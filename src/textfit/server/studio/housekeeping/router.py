"""PATCH|DELETE /api/runs/{id} (rename, delete), GET /api/storage and /api/runs/{id}/storage (disk use)."""

# No `from __future__ import annotations`: FastAPI reads the request model's annotations when the
# route is made, and a class inside the factory would not resolve from a string.
from .service import Housekeeping


def housekeeping_router(keeper: Housekeeping):
    """Rename and delete runs; disk use; the download's size."""
    from fastapi import APIRouter
    from pydantic import BaseModel, ConfigDict

    router = APIRouter()

    class Rename(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str

    @router.patch("/api/runs/{run_id}")
    def rename(run_id: str, request: Rename):
        return keeper.rename(run_id, request.name)

    @router.delete("/api/runs/{run_id}")
    def delete(run_id: str):
        return keeper.delete(run_id)

    @router.get("/api/storage")
    def storage():
        return keeper.storage()

    @router.get("/api/runs/{run_id}/storage")
    def run_storage(run_id: str):
        return keeper.run_storage(run_id)

    return router
