"""The training benchmark's variant names (scripts/benchmark_training.py)."""

import pytest

from script_modules import load_script

benchmark = load_script("benchmark_training")


def test_a_variant_name_sets_its_model_term_and_counts():
    variant = benchmark.parse_variant("ours-hw-every2-spe10")
    assert (variant["model"], variant["hw"], variant["every"], variant["spe"], variant["jit"]) == ("ours", True, 2, 10, False)
    assert benchmark.parse_variant("ours-rot180-xla")["rot"] == 180


@pytest.mark.parametrize("name", ["ours-rot180-every0", "ours-spe0", "plain-spe0"])
def test_a_count_of_steps_below_one_is_refused_with_the_token(name):
    with pytest.raises(SystemExit, match=r"'(every|spe)0'.*expected a count of steps >= 1"):
        benchmark.parse_variant(name)


def test_a_term_count_without_a_term_is_refused():
    with pytest.raises(SystemExit, match="needs a consistency term"):
        benchmark.parse_variant("ours-every2")
