"""File names of run folders and experiments, in one module."""

from __future__ import annotations

from trw_ray import layout


def test_sample_tables_are_named_and_found_by_dataset_split_output_and_epoch(tmp_path):
    for dataset, split, output, epoch in (("mnist", "valid", "softmax", 2), ("mnist", "valid", "softmax", 10),
                                          ("my-data", "train-a", "head", 1)):
        path = layout.samples_file(tmp_path, dataset, split, output, epoch)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    (tmp_path / layout.SAMPLES_FOLDER / "mnist" / "valid" / "softmax" / "notes.txt").write_text("ignored")
    found = [(d, s, o, e) for d, s, o, e, _ in layout.samples_files(tmp_path)]
    assert found == [("mnist", "valid", "softmax", 2), ("mnist", "valid", "softmax", 10), ("my-data", "train-a", "head", 1)]
    assert layout.samples_files(tmp_path / "missing") == []


def test_folders_are_recognised(tmp_path):
    assert not layout.is_run_folder(tmp_path) and not layout.is_experiment_folder(tmp_path)
    (tmp_path / layout.TRAINER_LOG).write_text("")
    (tmp_path / layout.RECORD_FOLDER).mkdir()
    (tmp_path / layout.RECORD_FOLDER / layout.SEARCH_FILE).write_text("{}")
    assert layout.is_run_folder(tmp_path) and layout.is_experiment_folder(tmp_path)
