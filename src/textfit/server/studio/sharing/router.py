"""GET|POST|DELETE /api/runs/{id}/serve: is the run's model served (and where), serve it, stop."""

from .service import ModelServers


def sharing_router(servers: ModelServers):
    """The API behind "Serve this model": GET (is it served, where), POST (start), DELETE (stop)."""
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/api/runs/{run_id}/serve")
    def serving(run_id: str):
        return servers.status(run_id)  # a 404 for a malformed id

    @router.post("/api/runs/{run_id}/serve")
    def serve(run_id: str):
        return servers.start(run_id)

    @router.delete("/api/runs/{run_id}/serve")
    def stop_serving(run_id: str):
        return servers.stop(run_id)

    return router
