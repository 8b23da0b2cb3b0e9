"""Mutation testing of the modules whose tests run in seconds: how many mutants their tests kill.

Each module is mutated by mutmut (``pip install mutmut``, 3.8) in a scratch copy of the repository,
against only the test files that specify it. A mutant counts as killed when a test fails or times out
(an endless loop is caught). Survivors are listed by name; ``mutmut show NAME`` in the printed scratch
folder shows the change. Survivors that cannot change any result are listed in docs/testing.md.

Not part of CI: every module takes minutes on one core. Run one at a time, e.g.
``nice -n 10 taskset -c 1 python scripts/mutation_test.py metrics config``; no names runs them all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRATCH = os.path.join(os.environ.get("TMPDIR", "/tmp"), "jointvae-mutation")
COPIED = ("jointvae_tf", "cli", "tests", "pyproject.toml")  # "cli" only while it exists
LOCAL_FILES = ("tests/test_data_local_files.py", "tests/test_data_loading.py", "tests/test_classes.py")
MODULES = {
    "metrics": ("jointvae_tf/metrics.py", ("tests/test_metrics.py",)),
    "capacity": ("jointvae_tf/capacity.py", ("tests/test_capacity.py",)),
    "latents": ("jointvae_tf/latents.py", ("tests/test_latents.py",)),
    "losses": ("jointvae_tf/losses.py", ("tests/test_losses.py",)),
    "config": ("jointvae_tf/config.py", ("tests/test_config.py", "tests/test_config_settings.py",
                                         "tests/test_capacity.py", "tests/test_latents.py")),
    "splits": ("jointvae_tf/data/splits.py", LOCAL_FILES),
    "normalize": ("jointvae_tf/data/normalize.py", ("tests/test_data_normalize.py",)),
    "csv_files": ("jointvae_tf/data/csv_files.py", LOCAL_FILES),
    "image_folders": ("jointvae_tf/data/image_folders.py", LOCAL_FILES),
}
MUTMUT_CONFIG = """
[tool.mutmut]
source_paths = ["jointvae_tf"]
only_mutate = ["{source}"]
also_copy = {also_copy}
pytest_add_cli_args_test_selection = {tests}
pytest_add_cli_args = ["-q", "-p", "no:cacheprovider", "-m", "not slow"]
"""


def prepare(name: str, source: str, tests: tuple[str, ...]) -> str:
    """A fresh scratch copy of the repository configured to mutate ``source`` only; its path."""
    folder = os.path.join(SCRATCH, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    present = [item for item in COPIED if os.path.exists(os.path.join(ROOT, item))]
    for item in present:
        path = os.path.join(ROOT, item)
        if os.path.isdir(path):
            shutil.copytree(path, os.path.join(folder, item), ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, folder)
    also_copy = [item for item in present if item not in ("jointvae_tf", "tests", "pyproject.toml")]
    with open(os.path.join(folder, "pyproject.toml"), "a") as f:
        f.write(MUTMUT_CONFIG.format(source=source, also_copy=json.dumps(also_copy), tests=json.dumps(list(tests))))
    return folder


def mutmut(folder: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=folder, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"mutmut {' '.join(args)} failed in {folder}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def run(name: str) -> dict:
    """Mutate module ``name`` of :data:`MODULES`: counts, survivors and minutes taken."""
    source, tests = MODULES[name]
    folder = prepare(name, source, tests)
    start = time.monotonic()
    mutmut(folder, "run", "--max-children", "1")
    mutmut(folder, "export-cicd-stats")
    with open(os.path.join(folder, "mutants", "mutmut-cicd-stats.json")) as f:
        counts = json.load(f)
    survivors = [line.split(":")[0].strip() for line in mutmut(folder, "results").splitlines()
                 if line.strip().endswith(": survived")]
    return {"module": name, "folder": folder, "minutes": (time.monotonic() - start) / 60, "survivors": survivors,
            **{key: counts[key] for key in ("total", "killed", "timeout", "survived", "no_tests")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=f"default: all of {', '.join(MODULES)}")
    names = parser.parse_args().modules or list(MODULES)
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        parser.error(f"unknown modules {unknown}; expected some of {', '.join(MODULES)}")
    rows = []
    for name in names:
        row = run(name)
        rows.append(row)
        killed = row["killed"] + row["timeout"]
        print(f"{name:14s} {killed:4d}/{row['total']:<4d} killed ({100 * killed / max(row['total'], 1):5.1f} %), "
              f"{row['timeout']} by timeout, {row['survived']} survived, {row['no_tests']} without tests, "
              f"{row['minutes']:.1f} min  [{row['folder']}]", flush=True)
        for survivor in row["survivors"]:
            print(f"    survived: {survivor}")
    total = sum(row["total"] for row in rows)
    killed = sum(row["killed"] + row["timeout"] for row in rows)
    print(f"{'all':14s} {killed:4d}/{total:<4d} killed ({100 * killed / max(total, 1):5.1f} %)")


if __name__ == "__main__":
    main()
