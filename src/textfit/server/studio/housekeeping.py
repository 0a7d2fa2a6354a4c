"""Housekeeping of the studio's runs: rename, delete (the record and every file under the run's
folder, never anything outside it), the disk each run uses, and the download's size before it is built."""

import os
import shutil
from pathlib import Path

from ..common import StudioError, human_bytes
from . import worker
from .download import is_fresh, signature, zip_name, zip_size

NAME_LIMIT = 100


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder`, links counted as links (never followed)."""
    total = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:  # gone, or not a folder
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                total += folder_bytes(Path(entry.path))
            else:
                total += entry.stat(follow_symlinks=False).st_size
        except OSError:  # a file removed while we count (a checkpoint replaced)
            pass
    return total


def sized(size: int) -> dict:
    return {"bytes": size, "size": human_bytes(size)}


def clean_name(name: str) -> str:
    """A run's display name: control characters and runs of spaces become one space; 1 to 100 characters."""
    name = " ".join("".join(c if c.isprintable() else " " for c in name or "").split())
    if not name:
        raise StudioError("give the run a name (it cannot be empty)")
    if len(name) > NAME_LIMIT:
        raise StudioError(f"a name can be at most {NAME_LIMIT} characters (this one has {len(name)})")
    return name


class Housekeeping:
    def __init__(self, studio):
        self.studio = studio
        self.zip_sizes: dict[str, tuple[tuple, int]] = {}  # run id -> (download.signature, bytes)

    def rename(self, run_id: str, name: str) -> dict:
        self.studio.get_run(run_id)  # 404 when there is no such run
        self.studio.store.update_run(run_id, name=clean_name(name))
        return self.studio.get_run(run_id)

    def delete(self, run_id: str) -> dict:
        """Delete an ended run: stop its model server, then remove its record and its folder."""
        studio = self.studio
        with studio.lock:  # the scheduler cannot start it meanwhile
            run = studio.get_run(run_id)
            if run["status"] == "running":
                raise StudioError(f"“{run['name']}” is training: stop it first (Stop training), then delete it", 409)
            if run["status"] == "queued":
                raise StudioError(
                    f"“{run['name']}” is waiting in the queue: stop it first (Take off the queue), then delete it", 409
                )
            export = studio.export_locks.get(run_id)
            if export is not None and export.locked():
                raise StudioError("an ONNX export of this model is running: delete the run once it has finished", 409)
            jobs = getattr(studio, "file_jobs", None)  # classify_files.py, where its router is installed
            if jobs and (job := jobs.state(run_id)) and job["status"] == "running":
                raise StudioError(
                    "a file is being classified with this model: stop it (or let it finish), then delete the run", 409
                )
            studio.servers.stop(run_id)
            folder = studio.run_dir(run_id)
            freed = folder_bytes(folder)
            if not studio.store.delete_ended_run(run_id):
                raise StudioError("this run was started again meanwhile: stop it first, then delete it", 409)
            studio.classifiers.pop(run_id, None)
            studio.export_locks.pop(run_id, None)
            self.zip_sizes.pop(run_id, None)
        remove_run_folder(folder, studio.workdir / "runs")
        return {"deleted": run_id, "name": run["name"], "freed_bytes": freed, "freed": human_bytes(freed)}

    def storage(self) -> dict:
        """Disk use of every run and of the whole studio folder (uploads and database included)."""
        runs = {run["id"]: sized(folder_bytes(self.studio.run_dir(run["id"]))) for run in self.studio.store.list_runs()}
        return {"total": sized(folder_bytes(self.studio.workdir)), "runs": runs}

    def run_storage(self, run_id: str) -> dict:
        run = self.studio.get_run(run_id)
        ended = run["status"] not in ("running", "queued")  # a training run's model folder may be replaced
        download = self.download_size(run_id) if ended else None
        return {
            "disk": sized(folder_bytes(self.studio.run_dir(run_id))),
            "download": sized(download) if download is not None else None,
        }

    def download_size(self, run_id: str) -> int | None:
        """The model zip's size in bytes: the zip's own when it is up to date, else measured without
        writing it (download.zip_size) and remembered until a file of the model changes."""
        folder = self.studio.run_dir(run_id) / worker.MODEL
        if not (folder / "config.json").is_file():
            return None
        built = self.studio.run_dir(run_id) / f"{zip_name(run_id)}.zip"
        if is_fresh(built, folder):
            return built.stat().st_size
        key = signature(folder)
        cached = self.zip_sizes.get(run_id)
        if cached is None or cached[0] != key:
            cached = self.zip_sizes[run_id] = (key, zip_size(folder, zip_name(run_id)))
        return cached[1]


def remove_run_folder(folder: Path, runs_root: Path) -> None:
    """Remove one run's folder. rmtree never follows links, so nothing outside the folder is touched;
    a run folder that is itself a link loses the link only."""
    if folder.parent != runs_root:
        raise StudioError("refusing to remove a folder outside the studio's runs", 500)
    try:
        if folder.is_symlink():
            folder.unlink()
        elif folder.exists():
            shutil.rmtree(folder)
    except OSError as exc:
        raise StudioError(
            f"the run was deleted, but some of its files could not be removed ({exc}); "
            f"remove the folder {folder} by hand",
            500,
        ) from None


def housekeeping_router(studio):
    """Rename and delete runs; disk use; the download's size."""
    import asyncio

    from fastapi import APIRouter
    from pydantic import BaseModel, ConfigDict

    router = APIRouter()
    keeper = Housekeeping(studio)

    class Rename(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str

    @router.patch("/api/runs/{run_id}")
    async def rename(run_id: str, request: Rename):
        return await asyncio.to_thread(keeper.rename, run_id, request.name)

    @router.delete("/api/runs/{run_id}")
    async def delete(run_id: str):
        return await asyncio.to_thread(keeper.delete, run_id)

    @router.get("/api/storage")
    async def storage():
        return await asyncio.to_thread(keeper.storage)

    @router.get("/api/runs/{run_id}/storage")
    async def run_storage(run_id: str):
        return await asyncio.to_thread(keeper.run_storage, run_id)

    return router
