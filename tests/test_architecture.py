"""The package's folders are its architecture: each layer imports only from the layers below it.

Layers, lowest first (``docs/reference/architecture.md``): the shared base (``errors``, ``progress``),
``core``, ``data``, ``run_folders``, ``evaluation``, ``viz``, ``training``, ``serving``, and the ``cli`` on top.
"""

from __future__ import annotations

import ast
import pathlib

import jointvae_tf
import jointvae_tf.cli

LAYERS = ("errors", "progress", "core", "data", "run_folders", "evaluation", "viz", "training", "serving", "cli")
RANK = {"errors": 0, "progress": 0, **{name: i for i, name in enumerate(LAYERS) if i >= 2}}
PACKAGE = pathlib.Path(jointvae_tf.__file__).parent


def _modules():
    """``(dotted name, path)`` of every module of the installed package, ``cli`` included."""
    roots = [(PACKAGE, "jointvae_tf"), (pathlib.Path(jointvae_tf.cli.__file__).parent, "jointvae_tf.cli")]
    for root, prefix in roots:
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join((prefix, *parts)), path


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "jointvae_tf" and parts[1] in RANK else None


def _imported(path: pathlib.Path, module: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package (a package's __init__ is its own package)
                package = module.split(".")
                package = package[:len(package) - node.level + (path.name == "__init__.py")]
                base = ".".join([*package, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_every_module_sits_in_a_layer():
    entry_points = {"jointvae_tf", "jointvae_tf.__main__"}  # the public face and ``python -m``
    homeless = [m for m, _ in _modules() if m not in entry_points and _layer(m) is None]
    assert not homeless, f"modules outside every layer: {homeless}"


def test_each_layer_imports_only_from_the_layers_below_it():
    upward = []
    for module, path in _modules():
        layer = _layer(module)
        if layer is None:
            continue
        for name in _imported(path, module):
            target = _layer(name)
            if target is not None and RANK[target] > RANK[layer]:
                upward.append(f"{module} imports {name}")
    assert not upward, "imports that reach up a layer:\n" + "\n".join(sorted(upward))
