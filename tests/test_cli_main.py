"""The `jvae-tf` group: help without TensorFlow, the command list, and exit codes 2 (mistake) / 1 (failure)."""

import socket
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from jointvae_tf.cli.main import COMMANDS, main


def test_help_lists_the_commands_without_importing_tensorflow(tmp_path):
    script = ("import sys\nfrom jointvae_tf.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
              "    assert e.code in (0, None), e.code\n"
              "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tensorflow_datasets')"
              " or m.startswith('jointvae_tf.') and not m.startswith('jointvae_tf.cli'))\nprint('IMPORTED', heavy)\n")
    # cwd: outside the source tree, so that the installed package (with its cli) is imported.
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "IMPORTED []" in result.stdout
    assert all(f"  {name} " in result.stdout for name in COMMANDS)


@pytest.mark.parametrize("args,code,answer", [(["train", "--help"], 0, "--dataset"),
                                              (["train", "--no-such-flag"], 2, "No such option"),
                                              (["train", "--epochs", "ten"], 2, "'ten' is not a valid integer"),
                                              *(([name, "--help"], 0, "Usage") for name in COMMANDS)])
def test_a_commands_help_and_flag_mistakes_answer_without_importing_tensorflow(args, code, answer, tmp_path):
    script = (f"import sys\nfrom jointvae_tf.cli.main import main\ncode = 0\ntry:\n    main({args!r})\n"
              "except SystemExit as e:\n    code = e.code or 0\n"
              "print('EXIT', code, 'TENSORFLOW', 'tensorflow' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert f"EXIT {code} TENSORFLOW False" in result.stdout, result.stderr[-2000:]
    assert answer in result.stdout + result.stderr


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listed_summary_is_the_command_s_own(name):
    command = main.get_command(click.Context(main), name)
    assert command.name == name and command.get_short_help_str(limit=1000) == COMMANDS[name]


def test_usage_error_exits_2_and_run_failure_exits_1(tmp_path):
    runner = CliRunner()
    unknown = runner.invoke(main, ["no-such-command"])
    assert unknown.exit_code == 2 and unknown.stderr.startswith("Error: ")
    with socket.socket() as taken:  # bound, never listening: connections are refused, no other program gets it
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        no_server = runner.invoke(main, ["sample", "--server", f"127.0.0.1:{port}", "--retries", "1", "--timeout", "2",
                                         "--out", str(tmp_path / "x.png")])
    assert no_server.exit_code == 1, no_server.output
    assert no_server.stderr.count("\n") == 1 and "no TF-Serving answered" in no_server.stderr


@pytest.mark.slow
def test_datasets_lists_without_warnings_about_folders_not_downloaded_yet(tmp_path):
    result = subprocess.run([sys.executable, "-m", "jointvae_tf", "datasets", "--data-dir", str(tmp_path / "none")],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mnist" in result.stdout and "WARNING" not in result.stderr.upper(), result.stderr[-2000:]
