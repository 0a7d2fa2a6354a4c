"""GET /api/runs/{id}/insight (the yardstick, "not sure", the scores after each epoch) and
POST /api/runs/{id}/explain ("why this label")."""

# No `from __future__ import annotations`: FastAPI reads the request model's annotations when the
# route is made, and a class inside insight_router would not resolve from a string.
from ..models import Models
from .service import explain_text, read_record, run_insight


def insight_router(models: Models, max_text_chars: int):
    """GET /api/runs/{id}/insight and POST /api/runs/{id}/explain, for create_studio_app."""
    from fastapi import APIRouter
    from pydantic import BaseModel, Field

    router = APIRouter()

    class ExplainText(BaseModel):
        text: str = Field(..., min_length=1, max_length=max_text_chars)
        label: str | None = Field(None, max_length=1000, description="default: the label the model answers")

    @router.get("/api/runs/{run_id}/insight")
    def insight(run_id: str):
        return run_insight(read_record(models, run_id))

    @router.post("/api/runs/{run_id}/explain")
    def explain(run_id: str, request: ExplainText):
        return explain_text(models, run_id, request.text, request.label)

    return router
