"""Files and folders written whole or not at all, whenever the process dies: a checkpoint, a run
file, a model folder (checkpoint.py, save.py; classifier.py reads a model being replaced)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def previous_of(folder: Path) -> Path:
    """Where `replace_folder` keeps the folder it replaces until the new one is in place."""
    return folder.with_name(folder.name + ".previous")


def replace_folder(staging: Path, folder: Path) -> None:
    """Move the complete, fsynced folder `staging` to `folder`, replacing what is there: the old one
    is moved aside (FOLDER.previous) first and deleted only once the new one is in place. Between
    the two renames FOLDER is missing and FOLDER.previous holds it: `recover_model_folder` puts it back."""
    sync_tree(staging)
    recover_model_folder(folder)
    previous = previous_of(folder)
    if folder.exists():
        os.replace(folder, previous)
    os.replace(staging, folder)
    sync_directory(folder.parent)
    shutil.rmtree(previous, ignore_errors=True)


def recover_model_folder(out_dir: str | Path) -> None:
    """Finish what a save killed between its steps left: put the previous model back where the new
    one never arrived (OUT missing, OUT.previous there), or delete it where the new one did."""
    folder = Path(out_dir)
    previous = previous_of(folder)
    if not previous.exists():
        return
    if folder.exists():
        shutil.rmtree(previous)
    else:
        os.replace(previous, folder)


def write_json(path: Path, payload: dict) -> None:
    """Write `path` whole or not at all: a temporary file, fsynced, renamed over it."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(payload, indent=2, default=str))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sync_directory(path.parent)


def write_atomically(folder: Path, write: Callable[[Path], None]) -> None:
    """Fill a temporary folder with `write(tmp)`, fsync it and rename it to `folder` (which must
    not exist): `folder` is then complete or absent, whenever the process dies."""
    tmp = folder.with_name(".tmp-" + folder.name)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    sync_tree(tmp)
    os.replace(tmp, folder)
    sync_directory(folder.parent)


def sync_tree(folder: Path) -> None:
    """fsync every file under `folder`, and the folders: the data is on disk before any rename."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        else:
            sync_directory(path)
    sync_directory(folder)


def sync_directory(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # platforms that cannot open a directory (Windows) order renames themselves
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
