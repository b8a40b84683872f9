"""The command line as a new user meets it: help that says what each command and flag does, one exit code and one
line per mistake, naming the flag (no Ray needed)."""

import argparse
from pathlib import Path

import pytest

from trw_ray.cli import build_parser, main
from trw_ray.results.testing import write_experiment

SPACE = Path(__file__).resolve().parents[1] / "search_spaces" / "mnist_cnn_tiny.yaml"


def _commands():
    parser = build_parser()
    subparsers = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return subparsers.choices


def test_every_command_describes_itself_and_every_flag_has_help_with_its_default():
    for name, command in _commands().items():
        assert command.description and len(command.description) > 20, name
        for action in command._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help"
    tour_help = _commands()["tour"].format_help()
    assert "then search search_spaces/mnist_cnn_tiny.yaml with this many trials (0: no search) (default: 8)" in \
        " ".join(tour_help.split())
    search_help = " ".join(_commands()["search"].format_help().split())
    assert "--scheduler SCHEDULER one of fifo, hyperband, asha," in search_help  # pbt takes no searcher


@pytest.mark.parametrize("argv, message", [
    (["search", str(SPACE), "--num-samples", "0"], "trw-ray search: error: --num-samples: expected an integer >= 1"),
    (["search", str(SPACE), "--scheduler", "pbt", "--algorithm", "tpe"], "trw-ray search: error: --scheduler: 'pbt'"),
    (["report", "errors", "/nonexistent"], "trw-ray report: error: '/nonexistent' does not exist"),
    (["report", "/nonexistent"], "trw-ray report: error: '/nonexistent' does not exist"),
    (["results", "/nonexistent"], "trw-ray results: error: path: '/nonexistent' is not a trw_ray search experiment"),
])
def test_a_mistake_is_one_line_naming_the_flag_with_exit_code_2(capsys, argv, message):
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith(message) and error.count("\n") == 1, error


def test_report_run_refuses_an_experiment(tmp_path, capsys):
    experiment = write_experiment(tmp_path / "exp", [{"trial_id": "t1", "config": {"x": 0.1}, "value": 0.5}])
    assert main(["report", "run", str(experiment)]) == 2
    assert "is not a run folder (no last.model.result in it) (a search experiment: use `trw-ray report " \
           "EXPERIMENT`)" in capsys.readouterr().err
