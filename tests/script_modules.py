"""The scripts that tests specify: ``scripts/`` is no package, so each is loaded from its file."""

import importlib.util
import pathlib
import types

SCRIPTS = pathlib.Path(__file__).resolve().parent.parent / "scripts"


def load_script(name: str) -> types.ModuleType:
    """The module ``scripts/<name>.py``, executed once per call (its ``main`` does not run)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
