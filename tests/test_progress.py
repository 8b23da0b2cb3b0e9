"""Progress shown on a stdout that is not a terminal: plain lines, no colour codes or carriage returns."""

from jointvae_tf.progress import Progress, plain_unless_terminal


def test_a_bar_written_to_a_file_or_pipe_is_one_plain_line(capsys):
    progress = Progress("Reading 3 images", 3, "image")
    for _ in range(3):
        progress.advance()
    out = capsys.readouterr().out  # captured: not a terminal
    assert not any(code in out for code in ("\x1b", "\r", "\b"))
    assert out.splitlines()[0] == "Reading 3 images" and out.splitlines()[1].startswith("3/3")


def test_keras_verbosity_off_a_terminal_is_one_line_per_epoch(capsys):
    assert plain_unless_terminal("auto") == 2 and plain_unless_terminal(1) == 2
    assert plain_unless_terminal(0) == 0 and plain_unless_terminal(2) == 2
