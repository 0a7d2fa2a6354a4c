"""The studio's code keeps one shape per feature: a service (plain Python, no FastAPI) and a router
built from it; a handler is `async` only where it awaits something (FastAPI runs a plain `def` in
its threadpool)."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import textfit.server

SERVER = Path(textfit.server.__file__).parent
FEATURES = (
    "uploads",
    "runs",
    "downloads",
    "insight",
    "housekeeping",
    "sharing",
    "classify",
    "recovery",
    "labeling",
    "teacher",
)


def test_each_feature_is_a_service_and_a_router_built_from_it():
    for feature in FEATURES:
        folder = SERVER / "studio" / feature
        assert (folder / "service.py").is_file() and (folder / "router.py").is_file(), feature
        router = importlib.import_module(f"textfit.server.studio.{feature}.router")
        assert callable(getattr(router, f"{feature}_router")), feature


def test_the_services_import_no_web_framework():
    imports = "; ".join(f"import textfit.server.studio.{feature}.service" for feature in FEATURES)
    report = (
        "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette'})))"
    )
    done = subprocess.run([sys.executable, "-c", f"{imports}; {report}"], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == []


def handlers(path: Path):
    """The route handlers in a module: functions decorated with @router.<method> or @app.<method>."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                call = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(call, ast.Attribute) and isinstance(call.value, ast.Name):
                    if call.value.id in ("router", "app") and call.attr in ("get", "post", "put", "patch", "delete"):
                        yield node
                        break


def test_a_handler_is_async_only_where_it_awaits():
    found = 0
    for path in sorted(SERVER.rglob("*.py")):
        for handler in handlers(path):
            found += 1
            awaits = any(isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)) for node in ast.walk(handler))
            if isinstance(handler, ast.AsyncFunctionDef):
                assert awaits, f"{path.name}:{handler.lineno} {handler.name} awaits nothing: make it a plain def"
    assert found > 40  # the walk sees the routes


def test_the_serve_app_imports_nothing_of_the_studio():
    imports = {
        node.module or ""
        for node in ast.walk(ast.parse((SERVER / "app.py").read_text()))
        if isinstance(node, ast.ImportFrom)
    } | {
        node.module or ""
        for path in (SERVER / "batcher.py", SERVER / "shared.py", SERVER / "security.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
    }
    assert not any("studio" in module for module in imports), imports
