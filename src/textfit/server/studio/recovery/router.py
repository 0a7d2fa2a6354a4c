"""POST /api/runs/{id}/train-again: "Train again with the same settings"."""

from .service import train_again


def recovery_router(runs):
    from fastapi import APIRouter

    router = APIRouter()

    @router.post("/api/runs/{run_id}/train-again", status_code=201)
    def again(run_id: str):
        """A new run with this run's upload and settings; it waits in the queue like any other."""
        return train_again(runs, run_id)

    return router
