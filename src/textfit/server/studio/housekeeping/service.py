"""Housekeeping of the studio's runs: rename, delete (the record and every file under the run's
folder, never anything outside it), the disk each run uses, and the download's size before it is built."""

import os
import shutil
from pathlib import Path

from ...shared import human_bytes
from ..downloads.archive import is_fresh, signature, zip_name, zip_size
from ..errors import StudioError
from ..runs import worker

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
    """What a run may be renamed, what deleting it involves (its model server, a classifying job, an
    export, the loaded model), and the disk the runs use."""

    def __init__(self, runs, models, downloads, file_jobs, servers, workdir: Path):
        self.runs, self.models, self.downloads, self.file_jobs, self.servers = (
            runs,
            models,
            downloads,
            file_jobs,
            servers,
        )
        self.workdir = workdir
        self.zip_sizes: dict[str, tuple[tuple, int]] = {}  # run id -> (download.signature, bytes)

    def rename(self, run_id: str, name: str) -> dict:
        self.runs.get(run_id)  # 404 when there is no such run
        self.runs.store.update_run(run_id, name=clean_name(name))
        return self.runs.get(run_id)

    def delete(self, run_id: str) -> dict:
        """Delete an ended run: stop its model server, then remove its record and its folder."""
        with self.runs.lock:  # the scheduler cannot start it meanwhile
            run = self.runs.get(run_id)
            if run["status"] == "running":
                raise StudioError(f"“{run['name']}” is training: stop it first (Stop training), then delete it", 409)
            if run["status"] == "queued":
                raise StudioError(
                    f"“{run['name']}” is waiting in the queue: stop it first (Take off the queue), then delete it", 409
                )
            if self.downloads.exporting(run_id):
                raise StudioError("an ONNX export of this model is running: delete the run once it has finished", 409)
            if (job := self.file_jobs.state(run_id)) and job["status"] == "running":
                raise StudioError(
                    "a file is being classified with this model: stop it (or let it finish), then delete the run", 409
                )
            self.servers.stop(run_id)
            folder = self.runs.folder(run_id)
            freed = folder_bytes(folder)
            if not self.runs.store.delete_ended_run(run_id):
                raise StudioError("this run was started again meanwhile: stop it first, then delete it", 409)
            self.models.forget(run_id)
            self.downloads.forget(run_id)
            self.zip_sizes.pop(run_id, None)
        remove_run_folder(folder, self.runs.root)
        return {"deleted": run_id, "name": run["name"], "freed_bytes": freed, "freed": human_bytes(freed)}

    def storage(self) -> dict:
        """Disk use of every run and of the whole studio folder (uploads and database included)."""
        runs = {run["id"]: sized(folder_bytes(self.runs.folder(run["id"]))) for run in self.runs.store.list_runs()}
        return {"total": sized(folder_bytes(self.workdir)), "runs": runs}

    def run_storage(self, run_id: str) -> dict:
        run = self.runs.get(run_id)
        ended = run["status"] not in ("running", "queued")  # a training run's model folder may be replaced
        download = self.download_size(run_id) if ended else None
        return {
            "disk": sized(folder_bytes(self.runs.folder(run_id))),
            "download": sized(download) if download is not None else None,
        }

    def download_size(self, run_id: str) -> int | None:
        """The model zip's size in bytes: the zip's own when it is up to date, else measured without
        writing it (download.zip_size) and remembered until a file of the model changes."""
        folder = self.runs.folder(run_id) / worker.MODEL
        if not (folder / "config.json").is_file():
            return None
        name = zip_name(run_id, self.runs.get(run_id).get("name"))  # the folder inside is named so too
        built = self.runs.folder(run_id) / f"{name}.zip"
        if is_fresh(built, folder):
            return built.stat().st_size
        key = (name, signature(folder))
        cached = self.zip_sizes.get(run_id)
        if cached is None or cached[0] != key:
            cached = self.zip_sizes[run_id] = (key, zip_size(folder, name))
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
