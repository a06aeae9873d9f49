"""Row files in the agent's copy: hard links for large files, copies for small ones or across
filesystems, never a symlink; a folder per row; clear errors for patterns that do not fit the task."""

import errno
import os
from pathlib import Path

import pandas as pd
import pytest

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.row_files import SMALL_BYTES, RowFiles, RowFilesError, place_row_files
from evaluation.task import TaskError, load_task
from tests.test_mlebench_presets import copy_rows

SEED = 7


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_large_files_are_hard_linked_small_ones_copied(tmp_path: Path) -> None:
    public, dest = tmp_path / "public", tmp_path / "copy"
    write(public / "train" / "a.bin", b"x" * SMALL_BYTES)
    write(public / "train" / "b.bin", b"tiny")
    write(public / "test" / "t.bin", b"y" * (2 * SMALL_BYTES))
    spec = RowFiles(train=["train/{id}.bin"], test=["test/{id}.bin"])
    placed = place_row_files(
        spec, public, dest, "id", [{"id": "a"}], [(False, {"id": "b"}, "r01"), (True, {"id": "t"}, "r02")]
    )
    assert placed == 3
    assert os.path.samefile(public / "train" / "a.bin", dest / "train" / "a.bin")
    assert (dest / "test" / "r01.bin").read_bytes() == b"tiny"
    assert not os.path.samefile(public / "train" / "b.bin", dest / "test" / "r01.bin")
    assert os.path.samefile(public / "test" / "t.bin", dest / "test" / "r02.bin")
    assert not [p for p in dest.rglob("*") if p.is_symlink()]
    # Made again into the same directory: nothing changes, nothing fails.
    place_row_files(spec, public, dest, "id", [{"id": "a"}], [(False, {"id": "b"}, "r01")])


def test_a_failed_link_copies_instead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    public, dest = tmp_path / "public", tmp_path / "copy"
    write(public / "train" / "a.bin", b"z" * (3 * SMALL_BYTES))

    def cross_device(source: object, target: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    spec = RowFiles(train=["train/{id}.bin"], test=["test/{id}.bin"])
    place_row_files(spec, public, dest, "id", [], [(False, {"id": "a"}, "r9")])
    copied = dest / "test" / "r9.bin"
    assert copied.read_bytes() == b"z" * (3 * SMALL_BYTES) and not copied.is_symlink()
    assert not os.path.samefile(public / "train" / "a.bin", copied)


def test_a_folder_per_row_is_copied_whole_with_the_id_replaced_inside(tmp_path: Path) -> None:
    public, dest = tmp_path / "public", tmp_path / "copy"
    write(public / "train" / "p17" / "p17_scan0.dcm", b"s0")
    write(public / "train" / "p17" / "notes" / "meta.json", b"{}")
    spec = RowFiles(train=["train/{id}"], test=["test/{id}"])
    assert place_row_files(spec, public, dest, "id", [], [(False, {"id": "p17"}, "rabc")]) == 2
    names = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert names == ["test/rabc/notes/meta.json", "test/rabc/rabc_scan0.dcm"]


def test_a_missing_file_names_the_row_and_the_pattern(tmp_path: Path) -> None:
    spec = RowFiles(train=["train/{id}.png"], test=["test/{id}.png"])
    with pytest.raises(RowFilesError, match=r"row 'q3' \(row_files pattern 'train/\{id\}.png'\) is missing"):
        place_row_files(spec, tmp_path, tmp_path / "copy", "id", [{"id": "q3"}], [])


def image_task(root: Path, row_files: str) -> Path:
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    ids = [f"img{k:03d}" for k in range(40)]
    pd.DataFrame({"id": ids[:30], "label": [k % 2 for k in range(30)]}).to_csv(
        public / "train.csv", index=False
    )
    pd.DataFrame({"id": ids[30:], "label": 0}).to_csv(public / "sample_submission.csv", index=False)
    pd.DataFrame({"id": ids[30:], "label": [k % 2 for k in range(10)]}).to_csv(
        private / "test.csv", index=False
    )
    (public / "description.md").write_text("# images\n")
    for k, row_id in enumerate(ids):
        write(public / ("train" if k < 30 else "test") / f"{row_id}.png", f"{row_id}:{k % 2}".encode())
    (root / "task.yaml").write_text(
        "name: images\nmetric: accuracy\nid_column: id\ntarget_columns: [label]\n"
        f"test_file: sample_submission.csv\n{row_files}"
    )
    return root


def test_hidden_rows_images_sit_under_opaque_names(tmp_path: Path) -> None:
    root = image_task(tmp_path / "task", "row_files: {train: ['train/{id}.png'], test: ['test/{id}.png']}\n")
    hce = HiddenConsistentEvaluation(load_task(root), split_seed=SEED)
    public = tmp_path / "copy"
    hce.write_public(public)
    split = hce.split_ids()
    assert sorted(p.stem for p in (public / "train").iterdir()) == sorted(split["train"])
    test = copy_rows(hce, public, dtype=str)[1]
    assert list(test.columns) == ["id"]
    assert sorted(p.stem for p in (public / "test").iterdir()) == sorted(test["id"])
    # The content of each opaquely named image is its row's own (here it even spells the label).
    by_content = {(public / "test" / f"{o}.png").read_text().split(":")[0]: o for o in test["id"]}
    assert set(by_content) == {i for name in ("search", "val", "test") for i in split[name]}
    assert "those of each row of `test.csv` at `test/{id}.png`" in (public / "description.md").read_text()


@pytest.mark.parametrize(
    ("row_files", "message"),
    [
        ("row_files: {train: ['train/{id}.png'], test: []}\n", "same number of patterns"),
        (
            "row_files: {train: ['train/{name}.png'], test: ['test/{id}.png']}\n",
            r"reads column\(s\) \['name'\]",
        ),
        ("row_files: {train: ['train/{id}.png'], test: ['test/{label}.png']}\n", "the test table lacks"),
        (
            "row_files: {train: ['../{id}.png'], test: ['test/{id}.png']}\n",
            "must be a path under prepared/public",
        ),
        ("row_files: {train: ['train/all.png'], test: ['test/{id}.png']}\n", "names no column"),
        ("row_files: {train: ['train/{id}.png']}\n", "required key 'row_files.test' is missing"),
    ],
)
def test_bad_row_file_patterns_are_named(tmp_path: Path, row_files: str, message: str) -> None:
    root = image_task(tmp_path / "task", row_files)
    with pytest.raises(TaskError, match=message):
        load_task(root)


def test_a_pattern_may_take_one_character_of_a_column(tmp_path: Path) -> None:
    public, dest = tmp_path / "public", tmp_path / "copy"
    write(public / "train" / "0" / "a" / "0a9.png", b"img")
    spec = RowFiles(train=["train/{id[0]}/{id[1]}/{id}.png"], test=["test/{id[0]}/{id[1]}/{id}.png"])
    place_row_files(spec, public, dest, "id", [], [(False, {"id": "0a9"}, "r5c")])
    assert (dest / "test" / "r" / "5" / "r5c.png").read_bytes() == b"img"
    with pytest.raises(RowFilesError, match="has no character 1"):
        place_row_files(spec, public, dest, "id", [{"id": "0"}], [])


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("label_separator: ','\n", "set label_column too"),
        ("unseen_label: new_whale\ntarget_columns: [label, other]\n", "unseen_label needs a single target"),
    ],
)
def test_label_keys_that_do_not_fit_are_named(tmp_path: Path, keys: str, message: str) -> None:
    root = image_task(tmp_path / "task", "row_files: {train: ['train/{id}.png'], test: ['test/{id}.png']}\n")
    text = (root / "task.yaml").read_text()
    if "target_columns" in keys:
        text = text.replace("target_columns: [label]\n", "")
    (root / "task.yaml").write_text(text + keys)
    with pytest.raises(TaskError, match=message):
        load_task(root)
