"""The studio's "Label messages" (static/labeling.js): start from a file and label names, label the
messages the model asks for, see where you stand, train, classify the rest, check the labels.
The projects are in service.py and projects.py; the engine is textfit.labeling.

    GET  /api/labeling                          the projects, newest first
    GET  /api/labeling/uploads/{upload}         an upload's columns (a text column found without labels too)
    POST /api/labeling                          a new project: embeds its texts in the background
    GET  /api/labeling/{project}                its state (reading progress, counts, the linked run and file)
    PATCH /api/labeling/{project}               rename it ({"name": ...}, cleaned as a run's name is)
    DELETE /api/labeling/{project}              remove its folder (409 while reading or checking); its runs stay
    POST /api/labeling/{project}/next           the next messages to label (leased; gives `release` back first)
    POST /api/labeling/{project}/labels         one label ({"label"}), or a set ({"labels": [...]}: a project of
                                                several labels a message), stored at once; a refit starts
    POST /api/labeling/{project}/skip           leave one message unlabeled
    POST /api/labeling/{project}/release        give leased messages back (a page that closes)
    GET  /api/labeling/{project}/stand          the estimate and the learning curve (computed in the background)
    POST /api/labeling/{project}/focus          look for these categories first ({"categories": [...]}; [] stops)
    POST /api/labeling/{project}/train          a studio run on the labels given so far ("without": categories)
    GET  /api/labeling/{project}/unlabeled-estimate  what learning from the messages without a label adds to it
    POST /api/labeling/{project}/classify-rest  the last run classifies every message without a label
    POST|GET /api/labeling/{project}/audit      check the labels (in the background), then read the result"""

# No `from __future__ import annotations`: FastAPI reads the request models' annotations when the
# routes are made, and classes defined inside the factory would not resolve from a string.
from typing import Annotated

from ..errors import StudioError
from .service import LabelingProjects

MAX_LABELS = 200


def labeling_router(projects: LabelingProjects):
    from fastapi import APIRouter

    router = APIRouter()
    _project_routes(router, projects)
    _labeling_routes(router, projects)
    return router


def _project_routes(router, projects: LabelingProjects) -> None:
    """The projects themselves: list, look at an upload, create, read, rename, delete."""
    from pydantic import BaseModel, ConfigDict, Field

    class NewProject(BaseModel):
        model_config = ConfigDict(extra="forbid")
        upload_id: str = Field(..., max_length=100)
        text_column: str = Field(..., max_length=1000)
        label_column: str | None = Field(None, max_length=1000)
        label_names: list[str] = Field(..., max_length=MAX_LABELS)
        descriptions: list[str | None] | None = Field(None, max_length=MAX_LABELS)
        model: str = Field("default", max_length=500)
        name: str | None = Field(None, max_length=100)
        several_labels: bool = Field(False, description="a message can have several labels (toggled, then confirmed)")

    class Rename(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str

    @router.get("/api/labeling")
    def listing():
        return {"projects": projects.list()}

    @router.get("/api/labeling/uploads/{upload_id}")
    def describe_upload(upload_id: str, text_column: str | None = None, label_column: str | None = None):
        return projects.describe_upload(upload_id, text_column, label_column)

    @router.post("/api/labeling", status_code=201)
    def create(request: NewProject):
        fields = request.model_dump()
        fields["descriptions"] = fields["descriptions"] or [None] * len(request.label_names)
        return projects.create(**fields)

    @router.get("/api/labeling/{project_id}")
    def project(project_id: str):
        return projects.get(project_id).describe()

    @router.patch("/api/labeling/{project_id}")
    def rename(project_id: str, request: Rename):
        return projects.rename(project_id, request.name)

    @router.delete("/api/labeling/{project_id}")
    def delete(project_id: str):
        return projects.delete(project_id)


def _labeling_routes(router, projects: LabelingProjects) -> None:
    """The work in a project: next messages, labels, skips, where you stand, train, classify the rest, audit."""
    from fastapi import Query
    from pydantic import BaseModel, ConfigDict, Field

    class Next(BaseModel):
        model_config = ConfigDict(extra="forbid")
        n: int = Field(5, ge=1, le=50)
        release: list[int] = Field([], max_length=200)

    class Label(BaseModel):
        model_config = ConfigDict(extra="forbid")
        index: int = Field(..., ge=0)
        label: str | None = Field(None, max_length=1000)
        labels: list[Annotated[str, Field(max_length=1000)]] | None = Field(None, max_length=MAX_LABELS)

    class Skip(BaseModel):
        model_config = ConfigDict(extra="forbid")
        index: int = Field(..., ge=0)

    class Release(BaseModel):
        model_config = ConfigDict(extra="forbid")
        indices: list[int] = Field(..., max_length=200)

    class Train(BaseModel):
        model_config = ConfigDict(extra="forbid")
        epochs: int | None = Field(None, ge=1, le=100)
        time_budget: float | None = Field(None, gt=0, le=24 * 60, description="minutes")
        use_unlabeled: bool = Field(True, description="learn from the messages without a label too")
        without: list[str] | None = Field(None, max_length=MAX_LABELS, description="categories to leave out")

    class Focus(BaseModel):
        model_config = ConfigDict(extra="forbid")
        categories: list[str] = Field(..., max_length=MAX_LABELS)

    @router.post("/api/labeling/{project_id}/next")
    def next_batch(project_id: str, request: Next):
        return projects.get(project_id).next_batch(request.n, request.release)

    @router.post("/api/labeling/{project_id}/labels")
    def label(project_id: str, request: Label):
        if (request.label is None) == (request.labels is None):
            raise StudioError("give either a label or labels (a set, in a project of several labels a message)", 422)
        if request.labels is not None:
            return projects.get(project_id).label_set(request.index, request.labels)
        return projects.get(project_id).label(request.index, request.label)

    @router.post("/api/labeling/{project_id}/skip")
    def skip(project_id: str, request: Skip):
        return projects.get(project_id).skip(request.index)

    @router.post("/api/labeling/{project_id}/release")
    def release(project_id: str, request: Release):
        projects.get(project_id).ready().release(request.indices)
        return {"released": len(request.indices)}

    @router.get("/api/labeling/{project_id}/stand")
    def stand(project_id: str):
        return projects.get(project_id).where_you_stand()

    @router.post("/api/labeling/{project_id}/train", status_code=201)
    def train(project_id: str, request: Train | None = None):
        request = request or Train()
        return projects.get(project_id).train(
            request.epochs, request.time_budget, request.use_unlabeled, request.without
        )

    @router.get("/api/labeling/{project_id}/unlabeled-estimate")
    def unlabeled_estimate(project_id: str, epochs: Annotated[int | None, Query(ge=1, le=100)] = None):
        return projects.get(project_id).unlabeled_estimate(epochs)

    @router.post("/api/labeling/{project_id}/focus")
    def focus(project_id: str, request: Focus):
        return projects.get(project_id).look_for(request.categories)

    @router.post("/api/labeling/{project_id}/classify-rest", status_code=202)
    def classify_rest(project_id: str):
        return {"job": projects.get(project_id).classify_rest()}

    @router.post("/api/labeling/{project_id}/audit", status_code=202)
    def start_audit(project_id: str):
        return projects.get(project_id).start_audit()

    @router.get("/api/labeling/{project_id}/audit")
    def audit(project_id: str):
        return projects.get(project_id).audit
