"""The runs' routes: list and start runs, follow one, resume or stop it, its results and "try it".

GET  /api/runs                    every run, newest first (queued ones with their place)
POST /api/runs                    a new run from an upload (201; it may wait in the queue)
POST /api/runs/estimate           how long that run would train on this computer, before Start
GET  /api/runs/{run}              the run with its progress
POST /api/runs/{run}/resume       continue an interrupted run from its checkpoint
POST /api/runs/{run}/stop         stop training (the best model so far is kept), or leave the queue
GET  /api/runs/{run}/results      the evaluation tables
POST /api/runs/{run}/predict      "try it": one text, or up to 100"""

# No `from __future__ import annotations`: FastAPI reads the request models' annotations when the
# routes are made, and classes defined inside the factory would not resolve from a string.
from typing import Annotated, Literal

from ..errors import StudioError
from ..models import Models
from .results import read_results, try_texts
from .service import Runs


def runs_router(runs: Runs, models: Models, max_text_chars: int):
    from fastapi import APIRouter
    from pydantic import BaseModel, ConfigDict, Field

    router = APIRouter()

    class StartRun(BaseModel):
        model_config = ConfigDict(extra="forbid")
        upload_id: str
        text_column: str
        label_column: str | None = None  # none: one 0/1 column per label, as `textfit train FILE` reads them
        model: str = Field("default", max_length=500)
        epochs: int | None = Field(None, ge=1, le=100)
        time_budget: float | None = Field(None, gt=0, le=24 * 60, description="minutes")
        name: str | None = Field(None, max_length=100)
        label_names: str | None = Field(None, max_length=20_000)
        strategy: Literal["auto", "finetune", "fewshot"] = "auto"  # auto: textfit chooses (train.choose_strategy)
        unlabeled_upload_id: str | None = None  # texts without labels to learn from too (training/distill.py)
        label_separator: str | None = Field(None, max_length=10)  # what joins several labels a row, where asked

    class TryText(BaseModel):
        text: str | None = Field(None, min_length=1, max_length=max_text_chars)
        texts: list[Annotated[str, Field(min_length=1, max_length=max_text_chars)]] | None = Field(
            None, min_length=1, max_length=100, description="several messages: answered as {results: [...]}"
        )
        top_k: int = Field(5, ge=1, le=100)
        min_confidence: float | None = Field(None, ge=0, le=1, description="below it: 'not sure' (insight/)")

    @router.get("/api/runs")
    def listing():
        return {"runs": runs.list()}

    @router.post("/api/runs", status_code=201)
    def start(request: StartRun):
        return runs.start(**request.model_dump())

    @router.post("/api/runs/estimate")
    def estimate(request: StartRun):
        return runs.estimate(**request.model_dump())

    @router.get("/api/runs/{run_id}")
    def run(run_id: str):
        return runs.details(run_id)

    @router.post("/api/runs/{run_id}/resume")
    def resume(run_id: str):
        return runs.resume(run_id)

    @router.post("/api/runs/{run_id}/stop")
    def stop(run_id: str):
        return runs.stop(run_id)

    @router.get("/api/runs/{run_id}/results")
    def results(run_id: str):
        answer = read_results(models.folder(run_id))
        models.preload(run_id)  # the page shows 'try it' next to the results
        return answer

    @router.post("/api/runs/{run_id}/predict")
    def try_text(run_id: str, request: TryText):
        texts = request.texts or ([request.text] if request.text else [])
        if not texts or (request.text and request.texts):
            raise StudioError("give either a text or texts (at most 100) to classify", 422)
        answers = try_texts(models.classifier(run_id), texts, request.top_k, request.min_confidence)
        return {"results": [{"text": t, **a} for t, a in zip(texts, answers)]} if request.texts else answers[0]

    return router
