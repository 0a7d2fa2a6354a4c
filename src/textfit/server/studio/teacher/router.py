"""The larger teacher's routes (service.py): the new-run form and "Train the model" offer to fetch it.

GET  /api/models/teacher         {name, downloaded, size_mb, gain, fetch: the last fetch or null}
POST /api/models/teacher/fetch   start fetching it once (202); while one runs, that one is answered"""

from .service import LargerTeacher


def teacher_router(teacher: LargerTeacher):
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/api/models/teacher")
    def describe():
        return teacher.describe()

    @router.post("/api/models/teacher/fetch", status_code=202)
    def fetch():
        return teacher.fetch()

    return router
