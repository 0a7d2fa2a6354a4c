"""The studio's model download: which files of a model folder go into the .zip, and its size before
it is built.

The zip holds what serving needs and what describes the model: the weights, config.json, the
tokenizer files, the n-gram model (lexical.*), calibration.json, ONNX exports, the model card
(README.md), the run record (textfit.json) and the evaluation tables (metrics.json, per_class.csv,
confusion_matrix.txt, misclassified.csv). Not the confusion-matrix picture (its numbers are in
confusion_matrix.txt, and the studio shows it), and nothing from outside the model folder:
checkpoints (model.checkpoints/), logs, settings and uploads stay in the studio."""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

LEFT_OUT = frozenset({"confusion_matrix.png"})
STORED_SUFFIXES = (".safetensors", ".onnx", ".png", ".bin")
"""Already compact: deflating them costs time and saves next to nothing."""


def file_name_part(text: str, limit: int = 80) -> str:
    """`text` (a run's or a file's name) as part of a file name every system accepts: no path
    separators or characters Windows refuses, one space between words, at most `limit` characters."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f\x7f]+', " ", text).replace("·", "-")
    cleaned = " ".join(cleaned.split()).strip(". ")[:limit].strip(". ")
    return cleaned


def zip_name(run_id: str, model_name: str | None = None) -> str:
    """The zip's name without .zip, and the one folder inside it: the model's name (as the studio
    lists it), else its run id."""
    return file_name_part(model_name or "") or f"textfit-model-{run_id}"


def members(folder: Path) -> list[Path]:
    """The files of `folder` that go into the zip: plain files at its top level, nothing half-written."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.is_symlink()
        and path.name not in LEFT_OUT
        and not path.name.startswith(".")
        and path.suffix != ".partial"
    )


def write_zip(folder: Path, target, prefix: str) -> None:
    """Write the zip of `folder` (its files under `prefix/`) to `target`, a path or a seekable file."""
    with zipfile.ZipFile(target, "w") as archive:
        for path in members(folder):
            compress = zipfile.ZIP_STORED if path.suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            archive.write(path, f"{prefix}/{path.name}", compress_type=compress)


def is_fresh(target: Path, folder: Path) -> bool:
    """Is the zip at `target` newer than every file it holds (e.g. not from before an ONNX export)?"""
    if not target.is_file():
        return False
    return target.stat().st_mtime >= max((p.stat().st_mtime for p in members(folder)), default=0)


def zip_size(folder: Path, prefix: str) -> int:
    """The exact size of the zip `write_zip` would write, measured by writing it to nowhere: the
    files are read (and the small ones compressed) but nothing lands on disk."""
    sink = _Measure()
    write_zip(folder, sink, prefix)
    return sink.size


def signature(folder: Path) -> tuple:
    """Changes whenever a member file does: a cache key for `zip_size`."""
    return tuple((p.name, (s := p.stat()).st_size, s.st_mtime_ns) for p in members(folder))


class _Measure(io.RawIOBase):
    """A seekable file that keeps only its length (zipfile goes back to fill in each file's header)."""

    def __init__(self):
        self.position = self.size = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.position += len(data)
        self.size = max(self.size, self.position)
        return len(data)

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position
