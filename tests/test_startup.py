"""`import textfit` and `textfit --help` answer at once: neither loads the heavy libraries (torch,
transformers, scikit-learn, pandas, numpy...), which only the commands that use them import.
How fast that is, is measured by benchmarks/startup.py; this guards the cause, without timing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import textfit

HEAVY = ("torch", "transformers", "sklearn", "pandas", "numpy", "scipy", "datasets", "huggingface_hub", "onnxruntime")

REPORT_HEAVY = (
    f"\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
)


def heavy_modules_after(code: str) -> list[str]:
    """The heavy top-level packages a fresh interpreter has loaded after running `code`."""
    done = subprocess.run([sys.executable, "-c", code + REPORT_HEAVY], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_import_textfit_loads_no_heavy_library():
    assert heavy_modules_after("import textfit") == []


def test_the_public_names_resolve_on_first_use_and_are_listed():
    assert heavy_modules_after("from textfit import TrainConfig, TextfitError") == []
    assert set(textfit.__all__) <= set(dir(textfit))
    from textfit.model.classifier import Classifier
    from textfit.training.train import train

    assert textfit.Classifier is Classifier and textfit.train is train
    assert all(getattr(textfit, name) is not None for name in textfit.__all__)
    assert not hasattr(textfit, "no_such_name")


@pytest.mark.parametrize("arguments", [["--help"], ["train", "--help"], ["predict", "--help"]])
def test_cli_help_loads_no_heavy_library(arguments):
    run_cli = (
        "from textfit.cli import app\n"
        "try:\n"
        f"    app(args={arguments!r}, prog_name='textfit')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
    )
    assert heavy_modules_after(run_cli) == []
