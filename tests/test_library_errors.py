"""The library speaks Python (argument names, config paths); only the CLI speaks flags, and it maps the
library's names to its own flags in every message it prints."""

import ast
import pathlib
import re

import click
import pytest
from click.testing import CliRunner
from jointvae_tf.cli.main import main
from jointvae_tf.cli.options import error_in_flags, flags_of, text_in_flags
from jointvae_tf.errors import ConfigError, RunFailure

LIBRARY = pathlib.Path(__file__).resolve().parents[1] / "jointvae_tf"
MODEL_SERVER_FLAGS = {"--file_system_poll_wait_seconds", "--rest_api_timeout_in_ms", "--ssl_config_file",
                      "--xla_cpu_compilation_enabled"}
"""tensorflow_model_server's own flags, which a message may tell the server's operator to set."""
FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")
CLI_LINE = re.compile(r"``jvae-tf [^`]*``")
"""A docstring may quote a command line of the CLI it serves (``jvae-tf sample --run``)."""


def _command(name: str) -> click.Command:
    return main.get_command(click.Context(main), name)


def _string_literals(tree: ast.AST):
    """(line, text) of every string constant, f-strings' literal parts and docstrings included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_string_of_the_library_names_a_flag():
    found = []
    for path in sorted(LIBRARY.rglob("*.py")):
        for line, text in _string_literals(ast.parse(path.read_text(), str(path))):
            flags = set(FLAG.findall(CLI_LINE.sub("", text))) - MODEL_SERVER_FLAGS
            found += [f"{path.relative_to(LIBRARY.parent)}:{line}: {flag}" for flag in sorted(flags)]
    assert found == []


def test_the_scan_sees_flags_in_f_strings_and_docstrings():
    tree = ast.parse('"""Doc ``jvae-tf sample --run`` and --seed."""\nx = f"--n: expected {n}"\n')
    texts = [CLI_LINE.sub("", text) for _, text in _string_literals(tree)]
    assert sorted(flag for text in texts for flag in FLAG.findall(text)) == ["--n", "--seed"]


def test_an_argument_a_setting_path_a_keyword_and_a_dotted_name_become_flags():
    flags = flags_of(_command("train"))
    error = ConfigError("model.cont_capacity.steps", "expected an integer >= 1, got 0")
    error_in_flags(error, flags)
    assert str(error) == "--cont-capacity: expected an integer >= 1, got 0"
    diverged = RunFailure("training diverged at step 3: loss=nan; the last good checkpoint is kept (try a lower "
                          "train.learning_rate or model.loss.gamma, or model.loss.kind=bce)")
    error_in_flags(diverged, flags)
    assert type(diverged) is RunFailure and diverged.exit_code == 1
    assert str(diverged).endswith("(try a lower --lr or --gamma, or --loss bce)")
    taken = ConfigError("run_dir", "runs/x already holds a trained run; pass resume=True to continue it")
    error_in_flags(taken, flags)
    assert str(taken) == "--out: runs/x already holds a trained run; pass --resume to continue it"
    assert text_in_flags("train.steps_per_execution and train.steps", flags) == "--steps-per-execution and --steps"
    unknown = ConfigError("model.channels", "expected 1 or 3, got 2")
    error_in_flags(unknown, flags)
    assert str(unknown) == "model.channels: expected 1 or 3, got 2"


def test_aliases_name_the_flag_of_what_a_command_passes_on_renamed():
    flags = flags_of(_command("sample"), address="--server", **{"retry.timeout": "--timeout"})
    error = RunFailure("model 'm' at http://h:1: no answer within 2 s (retry.timeout)")
    error_in_flags(error, flags)
    assert str(error).endswith("no answer within 2 s (--timeout)")
    assert text_in_flags("pass the server's CA as tls_ca=PATH", flags) == "pass the server's CA as --tls-ca PATH"
    assert text_in_flags("a b=c; n = 3", {}) == "a b=c; n = 3"
    explore = flags_of(_command("explore"), grpc="--grpc")
    assert text_in_flags("expected `run_dir` or one of `export_dir`, `server`, `grpc`, got `server` and `grpc`",
                         explore) == "expected RUN_DIR or one of --export, --server, --grpc, got --server and --grpc"


@pytest.mark.parametrize("arguments, message", [
    (["sample", "--export", "{tmp}"], "Error: --export: {tmp}: no SavedModel here"),
    (["sample", "--server", "https://127.0.0.1:1", "--tls-ca", "{tmp}/ca.pem"],
     "Error: --tls-ca: {tmp}/ca.pem: no such file"),
    (["train", "--loss", "general", "--loss-alpha", "-1"], "Error: --loss-alpha: the nll form needs alpha >= 0"),
])
def test_the_cli_names_its_flags_in_library_errors(tmp_path, arguments, message):
    result = CliRunner().invoke(main, [argument.format(tmp=tmp_path) for argument in arguments])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith(message.format(tmp=tmp_path)), result.stderr


def test_datasets_says_where_with_the_flag():
    result = CliRunner().invoke(main, ["datasets"])
    assert result.exit_code == 0, result.output
    assert "--data-dir at" in result.output and "data.data_dir" not in result.output
