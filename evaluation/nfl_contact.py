"""HCE for nfl-player-contact-detection: contacts between players (and with the ground) per 0.1 s step.

mle-bench's prepare.py writes, under prepared/public, `train_labels.csv` (contact_id, game_play,
datetime, step, nfl_player_id_1, nfl_player_id_2, contact; a contact_id is
`<game_key>_<play_id>_<step>_<player 1>_<player 2 or G>`), `sample_submission.csv` (contact_id,
contact: the test rows, there is no test.csv), per play the tables `{train,test}_player_tracking.csv`,
`{train,test}_baseline_helmets.csv` and `{train,test}_video_metadata.csv` (each with a game_play
column) and three videos `{train,test}/<game_play>_{All29,Endzone,Sideline}.mp4`; the answers
`prepared/private/test.csv` are the test plays' label rows.

The unit HCE splits is the play, as prepare.py split its test set (10% of the plays, whole); the split
saved beside the task lists plays, not the millions of label rows. Each hidden play gets a game key
of its own per split, above every real game key, its play id kept: `58168_003392` becomes, say,
`58231_003392`, in its contact ids, in the game_play, game_key and video columns of the test tables
and in its videos' names, so an agent joins the tables as it would on Kaggle but cannot tell a hidden
play's split or find it under its real name. The grade is mle-bench's Matthews correlation of the 0/1
contacts; standard errors resample whole plays.
"""

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation._opaque import opaque_ids, opaque_key, split_key
from evaluation.grading import read_sample
from evaluation.hce import HiddenConsistentEvaluation, typed_answers
from evaluation.prepared_tables import read_prepared
from evaluation.row_files import place_file
from evaluation.scoring import SCORED_SPLITS
from evaluation.split_store import saved_split
from evaluation.splits import group_split
from evaluation.task import Task, TaskError

CONTACT_ID, PLAY, CONTACT = "contact_id", "game_play", "contact"
GAME_KEY, VIDEO = "game_key", "video"
# The per-play tables, as `train_<name>.csv` and `test_<name>.csv`, and the views of a play's videos.
PLAY_TABLES = ("player_tracking", "baseline_helmets", "video_metadata")
VIEWS = ("All29", "Endzone", "Sideline")
PLAY_ID = re.compile(r"(?P<game>\d+)_\d+")
ROW_ID = re.compile(r"\d+_\d+_-?\d+_\d+_(\d+|G)")

_NOTE = """

## Note on this copy of the task

`train_labels.csv` holds the labelled contact rows available to you; their plays' videos are in
`train/` and their tracking, helmet boxes and video timings in the `train_*.csv` tables. The contacts
of the rows of `sample_submission.csv` are hidden and their game keys are opaque: each hidden play
`<game_key>_<play_id>` has a game key no play of `train/` has, its videos in `test/` and its rows in
the `test_*.csv` tables under that name. Predict `contact` (1 for contact, 0 for none) for every
`contact_id` of `sample_submission.csv` and write a submission with exactly its columns.
"""


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    return read_prepared(path, columns, "nfl-player-contact-detection")


def _check_ids(path: Path, table: pd.DataFrame) -> None:
    """Every contact id unique, of the form game_play_step_player_player, and of its row's play."""
    ids = table[CONTACT_ID]
    bad = ~ids.str.fullmatch(ROW_ID.pattern)
    if bad.any():
        raise TaskError(
            f"{path}: contact_id {ids[bad].iloc[0]!r} is not of the form "
            "<game_key>_<play_id>_<step>_<player>_<player or G>"
        )
    if PLAY in table.columns:
        elsewhere = ids.map(_play) != table[PLAY]
        if elsewhere.any():
            row = table[elsewhere].iloc[0]
            raise TaskError(f"{path}: contact_id {row[CONTACT_ID]!r} is not of its row's play {row[PLAY]!r}")
    repeated = ids.duplicated()
    if repeated.any():
        raise TaskError(f"{path} has the contact_id {ids[repeated].iloc[0]!r} twice; ids must be unique")


def _play(contact_id: str) -> str:
    return "_".join(contact_id.split("_", 2)[:2])


def index_videos(folder: Path) -> dict[str, list[Path]]:
    """The videos of each play under `folder` (`<game_play>_<view>.mp4`)."""
    videos: dict[str, list[Path]] = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name) if folder.is_dir() else []:
        play, _, view = entry.name.removesuffix(".mp4").rpartition("_")
        if entry.name.endswith(".mp4") and view in VIEWS and PLAY_ID.fullmatch(play):
            videos.setdefault(play, []).append(Path(entry.path))
    return videos


class NflContactHCE(HiddenConsistentEvaluation):
    """HCE whose unit is a play, hidden plays under game keys of their own, tables and videos renamed."""

    folds_hidden = True  # hce.enabled=false: its copy is written from _split alone

    def __init__(
        self, task: Task, split_seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    ) -> None:
        self._start(task, split_seed, fractions)
        public = task.public_dir
        labels = _read_table(task.train_csv, [CONTACT_ID, PLAY, CONTACT])
        answers = _read_table(task.answers_csv, [CONTACT_ID, PLAY, CONTACT])
        sample = _read_table(task.sample_submission_csv, [CONTACT_ID, CONTACT])
        for path, table in ((task.train_csv, labels), (task.answers_csv, answers)):
            _check_ids(path, table)
        unanswered = set(sample[CONTACT_ID]) ^ set(answers[CONTACT_ID])
        if unanswered:
            raise TaskError(
                f"{task.answers_csv} and {task.sample_submission_csv} disagree on {len(unanswered)} "
                f"contact_id(s) (e.g. {sorted(unanswered)[0]!r}); every test row needs one answer"
            )
        self._tables = {
            side: {name: _read_table(public / f"{side}_{name}.csv", [PLAY]) for name in PLAY_TABLES}
            for side in ("train", "test")
        }
        self._videos = {side: index_videos(public / side) for side in ("train", "test")}
        for side, table, path in (("train", labels, task.train_csv), ("test", answers, task.answers_csv)):
            unfilmed = [p for p in pd.unique(table[PLAY]) if len(self._videos[side].get(p, [])) < len(VIEWS)]
            if unfilmed:
                raise TaskError(
                    f"{path} has play {unfilmed[0]!r} (and {len(unfilmed) - 1} more) without its "
                    f"{len(VIEWS)} videos {side}/<game_play>_{{{','.join(VIEWS)}}}.mp4 in {public}"
                )
        self._labels = labels
        self._split = saved_split(task, split_seed, fractions, lambda: self._play_split(labels))
        self._split["test"] = list(pd.unique(answers[PLAY]))
        self._sample_text = sample
        self._sample = read_sample(task.sample_submission_csv, self._id, self.metric)
        every_play = [*pd.unique(labels[PLAY]), *self._split["test"]]
        for side in ("train", "test"):
            every_play += [p for t in self._tables[side].values() for p in pd.unique(t[PLAY])]
        self._name_plays(every_play)
        by_play = {name: set(self._split[name]) for name in ("search", "val")}
        self._answers = {
            name: typed_answers(labels[labels[PLAY].isin(by_play[name])][[CONTACT_ID, CONTACT]], [CONTACT])
            for name in ("search", "val")
        }
        self._answers["test"] = typed_answers(answers[[CONTACT_ID, CONTACT]], [CONTACT])
        self._opaque = {}
        for name in SCORED_SPLITS:
            for i in self._answers[name][CONTACT_ID]:
                play = _play(i)
                self._opaque[(name, i)] = self._play_opaque[(name, play)] + i[len(play) :]
        self._scorer = None

    def _play_split(self, labels: pd.DataFrame) -> dict[str, list[str]]:
        """The plays of D_train, D_search and D_val, each split holding its share of the label rows."""
        try:
            key = split_key(self.split_seed, self.task.answers_csv)
            rows = group_split(list(labels[CONTACT_ID]), list(labels[PLAY]), key, self.fractions)
        except ValueError as e:
            raise TaskError(f"{self.task.train_csv}: {e}") from None
        return {name: list(pd.unique(pd.Series(ids).map(_play))) for name, ids in rows.items()}

    def _name_plays(self, every_play: list[str]) -> None:
        """A game key per (split, play) of the hidden plays, in the order of a keyed hash, above every
        real game key; the play id is kept."""
        bad = next((p for p in every_play if PLAY_ID.fullmatch(p) is None), None)
        if bad is not None:
            raise TaskError(
                f"{self.task.public_dir}: game_play {bad!r} is not of the form <game_key>_<play_id>"
            )
        units = sorted({(name, p) for name in SCORED_SPLITS for p in self._split[name]})
        keyed = opaque_ids(opaque_key(self.split_seed, self.task.answers_csv), units)
        first = 1 + max(int(p.split("_")[0]) for p in every_play)
        ordered = sorted(units, key=keyed.__getitem__)
        self._play_opaque = {unit: f"{first + k}_{unit[1].split('_')[1]}" for k, unit in enumerate(ordered)}

    def _groups(self) -> dict[str, np.ndarray | None]:
        """Each answer row's play, so standard errors resample whole plays."""
        return {name: self._answers[name][CONTACT_ID].map(_play).to_numpy() for name in SCORED_SPLITS}

    def _renamed(self, table: pd.DataFrame, name: str, plays: list[str]) -> pd.DataFrame:
        """The rows of `plays` with their play's opaque name in game_play, game_key and video."""
        rows = table[table[PLAY].isin(set(plays))].copy()
        old = rows[PLAY]
        new = old.map({p: self._play_opaque[(name, p)] for p in plays})
        rows[PLAY] = new
        if GAME_KEY in rows.columns:
            rows[GAME_KEY] = new.str.split("_").str[0]
        if VIDEO in rows.columns:
            rows[VIDEO] = [
                n + v[len(o) :] if v.startswith(o) else v
                for o, n, v in zip(old, new, rows[VIDEO], strict=True)
            ]
        return rows

    def _write(self, dest: Path, labelled: list[str], hidden: tuple[str, ...]) -> None:
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        description = self.task.description_md.read_text(encoding="utf-8").rstrip()
        (dest / "description.md").write_text(description + _NOTE, encoding="utf-8")
        shown = set(labelled)
        self._labels[self._labels[PLAY].isin(shown)].to_csv(dest / self.task.spec.train_file, index=False)
        ids = sorted(self._opaque[(name, i)] for name in hidden for i in self._answers[name][CONTACT_ID])
        first = self._sample_text[CONTACT].iloc[0] if len(self._sample_text) else "0"
        pd.DataFrame({CONTACT_ID: ids, CONTACT: first}).to_csv(dest / self.task.spec.sample_file, index=False)
        for table in PLAY_TABLES:
            train = self._tables["train"][table]
            train[train[PLAY].isin(shown)].to_csv(dest / f"train_{table}.csv", index=False)
            parts = [
                self._renamed(
                    self._tables["test" if name == "test" else "train"][table], name, self._split[name]
                )
                for name in hidden
            ]
            test = pd.concat(parts).sort_values(PLAY, kind="stable")
            test.to_csv(dest / f"test_{table}.csv", index=False)
        for play in labelled:
            for video in self._videos["train"][play]:
                place_file(video, dest / "train" / video.name)
        for name in hidden:
            videos = self._videos["test" if name == "test" else "train"]
            for play in self._split[name]:
                opaque = self._play_opaque[(name, play)]
                for video in videos[play]:
                    place_file(video, dest / "test" / (opaque + video.name[len(play) :]))

    def write_public(self, dest: Path) -> None:
        """The agent's copy as prepare.py lays it out: D_train's plays in train_labels.csv, train/ and
        the train_ tables, every hidden play under its opaque name in the sample, test/ and the test_
        tables."""
        self._write(dest, self._split["train"], SCORED_SPLITS)

    def write_refit(self, dest: Path) -> None:
        """The refit's copy: every labelled play in train_labels.csv, train/ and the train_ tables, the
        D_test plays in test/ and the test_ tables."""
        labelled = [p for name in ("train", "search", "val") for p in self._split[name]]
        self._write(dest, labelled, ("test",))
