"""The README and the reference say what the code does: the test command is the one CI runs, every
``jvae-tf`` flag they name exists, every file and link they point to is there, and the quick start's run
folder is the one ``jvae-tf train`` writes."""

from __future__ import annotations

import importlib
import pathlib
import re

import pytest

from jointvae_tf.cli.main import COMMANDS, main

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
REFERENCE = sorted((ROOT / "docs" / "reference").glob("*.md"))
RESULTS = sorted((ROOT / "docs" / "results").glob("*.md"))
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
REPO_PATH = re.compile(r"^(?:docs|scripts|tests|serving|saved_models|jointvae_tf|cli|\.ci)/[\w./-]*$")


def section(text: str, heading: str) -> str:
    """The text under the markdown heading ``heading`` (any level), up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#|\Z)", text, re.M | re.S)
    assert match, f"no section {heading!r}"
    return match.group(1)


def fenced_lines(text: str) -> list[str]:
    """The lines inside the ``` code blocks of ``text``."""
    return [line for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S) for line in block.splitlines()]


def command_flags(name: str) -> set[str]:
    """Every flag of ``jvae-tf name``, both sides of a ``--x/--no-x`` switch included."""
    command = main.get_command(None, name)
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts) if opt.startswith("--")}


def commands_in(text: str) -> list[tuple[str, str]]:
    """``(command, the rest)`` of every ``jvae-tf COMMAND ...`` in code spans and code blocks of ``text``
    (shell comments left out)."""
    snippets = [*CODE_SPAN.findall(text), *(line.split(" #")[0] for line in fenced_lines(text))]
    return [(m.group(1), m.group(2)) for s in snippets for m in re.finditer(r"jvae-tf (\w+)(.*)", s)
            if m.group(1) in COMMANDS]


def test_the_readme_test_command_is_the_one_ci_runs():
    readme = [line for line in fenced_lines(section(README.read_text(), "Install and test")) if line.startswith("pytest")]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    marker = next(i for i, line in enumerate(ci) if "README's test command" in line)
    assert readme == [ci[marker + 1]] == ["pytest -q -p no:cacheprovider"]


@pytest.mark.parametrize("doc", [README, *REFERENCE], ids=lambda p: p.name)
def test_every_flag_written_after_a_command_exists(doc):
    unknown = [(name, flag) for name, rest in commands_in(doc.read_text()) for flag in FLAG.findall(rest)
               if flag != "--help" and flag not in command_flags(name)]
    assert not unknown, f"{doc.name} names flags that do not exist: {unknown}"


def test_every_flag_in_a_command_s_section_of_the_cli_reference_exists():
    text = (ROOT / "docs" / "reference" / "cli.md").read_text()
    for heading in re.findall(r"^## (`jvae-tf .*)$", text, re.M):
        names = re.findall(r"`jvae-tf (\w+)`", heading)
        known = set().union(*(command_flags(name) for name in names))
        unknown = sorted(set(FLAG.findall(section(text, heading))) - known - {"--help"})
        assert not unknown, f"{heading}: flags that no command of the heading has: {unknown}"


def test_the_cli_reference_has_a_section_for_every_command():
    text = (ROOT / "docs" / "reference" / "cli.md").read_text()
    assert set(COMMANDS) <= {name for heading in re.findall(r"^## (.*)$", text, re.M)
                             for name in re.findall(r"`jvae-tf (\w+)`", heading)}


@pytest.mark.parametrize("doc", [README, *REFERENCE, *RESULTS], ids=lambda p: p.name)
def test_every_file_and_link_a_document_points_to_exists(doc):
    text = doc.read_text()
    missing = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):  # markdown links and pictures, relative to the document
        if not re.match(r"[a-z]+://|#", target) and not (doc.parent / target.split("#")[0]).exists():
            missing.append(target)
    # Repository paths written as code, relative to the repository; results keep the paths of their day.
    for span in CODE_SPAN.findall(text) if doc not in RESULTS else ():
        path = span.rstrip(".,:;")
        if REPO_PATH.match(path) and not re.search(r"[A-Z]{3,}|\{", path) and not (ROOT / path).exists():
            missing.append(path)
    assert not missing, f"{doc.name} points to files that do not exist: {missing}"


def resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or a name defined by the module before its last dot."""
    module, _, name = dotted.rpartition(".")
    try:
        importlib.import_module(dotted)
        return True
    except ModuleNotFoundError:
        try:
            return hasattr(importlib.import_module(module), name)
        except ModuleNotFoundError:
            return False


@pytest.mark.parametrize("doc", [README, *REFERENCE], ids=lambda p: p.name)
def test_every_module_and_name_a_document_writes_out_exists(doc):
    names = sorted(set(re.findall(r"\bjointvae_tf(?:\.[A-Za-z_]\w*)+", doc.read_text())))
    missing = [dotted for dotted in names if not resolves(dotted)]
    assert not missing, f"{doc.name} names modules or objects that do not exist: {missing}"


def test_every_document_the_code_names_exists():
    named = {}
    for source in [*ROOT.glob("jointvae_tf/**/*.py"), *ROOT.glob("cli/*.py"), *ROOT.glob("scripts/*.py"),
                   *ROOT.glob("tests/*.py"), ROOT / ".ci" / "run"]:
        for path in re.findall(r"\b(docs/[\w./-]*\w|README\.md)", source.read_text()):
            named.setdefault(path, source.relative_to(ROOT).as_posix())
    missing = {path: where for path, where in named.items() if not (ROOT / path).exists()}
    assert not missing, f"documents named in the code that do not exist: {missing}"


def test_the_readme_says_which_pythons_pyproject_allows():
    requires = re.search(r'^requires-python = "(.*)"$', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert requires == ">=3.10,<3.13" and "Python 3.10, 3.11 or 3.12" in README.read_text()


def test_the_quick_start_writes_the_run_folder_the_readme_names():
    from jointvae_tf.cli.options import settings_given
    from jointvae_tf.cli.train import default_run_dir, train
    from jointvae_tf.training.presets import build_run_config

    text = README.read_text()
    quick_start = fenced_lines(section(text, "Train a model"))[0]
    assert quick_start == "jvae-tf train --dataset four_shapes --cont 5"
    params = train.make_context("train", quick_start.split()[2:]).params
    settings = settings_given({k: v for k, v in params.items() if k not in ("run_dir", "resume")})
    run_dir = default_run_dir(build_run_config(settings.pop("data.name"), settings))
    assert run_dir == "runs/four_shapes-c5-d8-s0" and f"`{run_dir}" in text


def test_the_readme_s_held_out_figures_are_those_of_the_results():
    table = section(README.read_text(), "Does the discrete code find the classes?")
    figures = set(re.findall(r"\| (0\.\d{3})", table))
    results = "".join(path.read_text() for path in RESULTS)
    assert len(figures) == 12 and all(figure in results for figure in figures)
