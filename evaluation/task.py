"""A task directory in the MLE-bench layout plus `task.yaml`, loaded and checked once."""

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError

from evaluation.metrics import UnknownMetricError, get_metric
from evaluation.row_files import RowFiles, RowFilesError, check_patterns

PUBLIC_FILES = ("description.md", "train.csv", "test.csv", "sample_submission.csv")
_FILE_KEYS = {"train.csv": "train_file", "test.csv": "test_file", "sample_submission.csv": "sample_file"}


class TaskError(Exception):
    """A task directory is unusable; the message names the file or key and how to fix it."""


class FileLabels(BaseModel):
    """task.yaml's `file_labels`: labelled rows that are files named by their label (see
    evaluation/file_labels.py): where they are listed, a regex over a name with the groups `id`,
    `label` (and optionally the group_column), and each label's target value."""

    model_config = ConfigDict(extra="forbid")

    listing: str
    pattern: str
    labels: dict[str, float]


class TaskSpec(BaseModel):
    """The contents of `task.yaml`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    metric: str
    id_column: str
    target_columns: list[str]
    # None: the metric's own direction.
    lower_is_better: bool | None = None
    # A CSV with a `score` column, best first, relative to the task directory.
    leaderboard: str | None = None
    leaderboard_kind: Literal["kaggle", "reference-ladder"] = "kaggle"
    description: str | None = None
    # Rows sharing a value of this train.csv column stay in one HCE split (e.g. a breath id).
    group_column: str | None = None
    # A time-ordered task: the train.csv column of each row's time (dates or numbers). D_train is then
    # the earliest labelled rows and D_search and D_val the rows after them (evaluation.splits:
    # `time_split`), as the competition's test rows come after the training rows.
    time_column: str | None = None
    # The labelled rows, a CSV under prepared/public (new-york-city-taxi-fare-prediction: labels.csv).
    train_file: str = "train.csv"
    # The hidden labels of the competition's test set, a CSV under prepared/private.
    answers_file: str = "test.csv"
    # The inputs of the competition's test rows, a CSV under prepared/public; `sample_submission.csv`
    # where the competition has no test CSV (its test rows are then the sample's ids).
    test_file: str = "test.csv"
    # Inputs in files, one or more per row (images, clips): patterns over a row's columns under
    # prepared/public, for labelled and for test rows (see evaluation.row_files).
    row_files: RowFiles | None = None
    # Other files or folders of prepared/public that the agent's copy keeps as they are (a class map).
    public_files: list[str] = []
    # Public CSVs with more rows about the labelled rows (e.g. annotations), by file name -> the column
    # holding the row's id: the agent's copy keeps the D_train rows' lines only.
    train_tables: dict[str, str] = {}
    # Answers whose label (the single target) no D_train row has are scored as this label
    # (whale-categorization-playground: new_whale); see evaluation.unseen_labels.
    unseen_label: str | None = None
    # When train.csv holds one class column and the submission one probability column per class
    # (named by the class, e.g. author -> EAP, HPL, MWS): that class column. HCE one-hot encodes it.
    label_column: str | None = None
    # When label_column holds several classes per row, separated by this (freesound: "Bark,Purr").
    label_separator: str | None = None
    # Columns of train.csv and the answers file the grader needs besides the targets (e.g. the coupling
    # `type` log-MAE averages over). They stay with the hidden answers.
    answer_columns: list[str] = []
    # Score only the rows whose answer columns equal these values (e.g. {u_out: 0}: the expiratory
    # phase of a breath is not scored). The columns stay with the hidden answers.
    score_where: dict[str, str | int | float] = {}
    # Do not score the rows where an answer column holds this value (e.g. {toxic: -1}: rows Kaggle
    # left unscored). The columns stay with the hidden answers.
    skip_where: dict[str, str | int | float] = {}
    # False when the answers hold no column of the submission's targets and the grader reads
    # answer_columns instead (jigsaw-unintended-bias: `prediction` is graded against `toxicity`).
    targets_in_answers: bool = True
    # Answer columns that train_file holds under another name: answer column -> train column
    # (jigsaw-unintended-bias: the answers' `toxicity` is train.csv's `target`).
    train_columns: dict[str, str] = {}
    # The target columns the grader scores, when the submission carries more (stanford-covid-vaccine:
    # three of five); empty: all of them.
    scored_columns: list[str] = []
    # A competition whose files are not CSV tables of rows (JSON lines, one labelled unit expanding
    # to several submission rows) names its adapter here (evaluation.layouts), which reads and checks
    # train_file and test_file in place of the CSV checks.
    layout: str | None = None
    # The sample submission lies in prepared/private, not public (billion-word-imputation: the
    # competition's public folder has none, and the agent's copy gets none either).
    sample_in_private: bool = False
    # The column that keys a row where the submission's id column repeats (hms: several labelled
    # windows of one eeg_id, keyed by label_id); each hidden row then gets an opaque id of its own.
    row_key: str | None = None
    # Labelled rows that are files named by their label, with no labels CSV (layout file-labels).
    file_labels: FileLabels | None = None
    # The sample submission's file name, where the competition names it otherwise (sampleSubmission.csv).
    sample_file: str = "sample_submission.csv"
    # The id column is itself an input (detecting-insults-in-social-commentary: the comment's text is
    # the key the grader matches on): hidden rows keep their ids, and a text repeated in train_file
    # stays in D_train with each of its rows.
    keep_ids: bool = False
    # Columns that key a submission row together with the id column, where the id repeats
    # (uw-madison-gi-tract-image-segmentation: one row per slice id and organ `class`).
    key_columns: list[str] = []
    # Layout streamed-table (new-york-city-taxi-fare-prediction's 55M rows): at most this many rows in
    # each of D_search and D_val (their fractions' share where that is fewer).
    max_hidden_rows: PositiveInt | None = None

    @property
    def hidden_columns(self) -> list[str]:
        """The columns besides id and targets that the hidden answers keep for the grader."""
        extra = [*self.answer_columns, *self.score_where, *self.skip_where]
        return [c for c in dict.fromkeys(extra) if c not in self.target_columns]

    @property
    def answer_targets(self) -> list[str]:
        """The target columns the hidden answers hold (none when `targets_in_answers` is false)."""
        return list(self.target_columns) if self.targets_in_answers else []

    def train_column(self, answer_column: str) -> str:
        """The train_file column holding `answer_column` for the labelled rows."""
        return self.train_columns.get(answer_column, answer_column)


@dataclass(frozen=True)
class Task:
    """A loaded task: its spec and the directory holding `prepared/{public,private}`."""

    spec: TaskSpec
    root: Path

    @property
    def public_dir(self) -> Path:
        return self.root / "prepared" / "public"

    @property
    def private_dir(self) -> Path:
        return self.root / "prepared" / "private"

    @property
    def train_csv(self) -> Path:
        return self.public_dir / self.spec.train_file

    @property
    def test_csv(self) -> Path:
        return self.public_dir / self.spec.test_file

    @property
    def test_is_sample(self) -> bool:
        """Whether the test rows are read off the sample submission (the task has no test CSV)."""
        return self.spec.test_file == self.sample_submission_csv.name

    @property
    def sample_submission_csv(self) -> Path:
        folder = self.private_dir if self.spec.sample_in_private else self.public_dir
        return folder / self.spec.sample_file

    @property
    def description_md(self) -> Path:
        return self.public_dir / "description.md"

    @property
    def answers_csv(self) -> Path:
        """The hidden labels of the competition's test set."""
        return self.private_dir / self.spec.answers_file

    @property
    def leaderboard_csv(self) -> Path | None:
        return None if self.spec.leaderboard is None else self.root / self.spec.leaderboard

    @property
    def lower_is_better(self) -> bool:
        """The direction of the score: task.yaml's if set, else the metric's."""
        if self.spec.lower_is_better is not None:
            return self.spec.lower_is_better
        return get_metric(self.spec.metric).lower_is_better


def load_task(directory: Path) -> Task:
    """Load and check a task directory; raise TaskError with one clear message when it is unusable."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TaskError(f"task directory {directory} does not exist; set task.dir to a task directory")
    task = Task(spec=_read_spec(directory / "task.yaml"), root=directory)
    try:
        get_metric(task.spec.metric)
    except UnknownMetricError as e:
        raise TaskError(f"{directory / 'task.yaml'}: {e}") from None
    names = [getattr(task.spec, _FILE_KEYS[n]) if n in _FILE_KEYS else n for n in PUBLIC_FILES]
    if task.spec.sample_in_private:
        names.remove(task.sample_submission_csv.name)
    required = [task.public_dir / name for name in names] + [task.sample_submission_csv, task.answers_csv]
    # A layout's adapter may name a folder as its train or test part (denoising-dirty-documents: train/).
    present = Path.exists if task.spec.layout is not None else Path.is_file
    missing = [str(path.relative_to(directory)) for path in required if not present(path)]
    if missing:
        raise TaskError(
            f"task directory {directory} lacks {', '.join(missing)}; it needs the MLE-bench layout "
            f"prepared/public/{{{', '.join(names)}}} and prepared/private/{task.spec.answers_file} "
            "(task.yaml's train_file, test_file and answers_file name the CSVs of labelled rows, test "
            "inputs and hidden labels)"
        )
    if task.leaderboard_csv is not None and not task.leaderboard_csv.is_file():
        raise TaskError(
            f"{directory / 'task.yaml'}: leaderboard file {task.leaderboard_csv} does not exist; "
            f"fix the path (relative to the task directory) or remove the `leaderboard` key"
        )
    spec = task.spec
    labels = [spec.label_column] if spec.label_column is not None else spec.answer_targets
    graded = [spec.train_column(c) for c in spec.hidden_columns]
    if task.answers_csv.suffix == ".csv":  # else a layout's own format (tensorflow2-qa: JSON lines)
        _require_columns(task.answers_csv, [spec.id_column, *spec.answer_targets, *spec.hidden_columns])
    _require_columns(task.sample_submission_csv, [spec.id_column, *spec.target_columns])
    if spec.row_key is not None:
        _require_columns(task.answers_csv, [spec.row_key])
    if spec.layout is not None:
        return task
    _require_columns(
        task.train_csv, [spec.id_column, *labels, *graded, *([spec.row_key] if spec.row_key else [])]
    )
    _require_columns(task.test_csv, [spec.id_column])
    if task.spec.group_column is not None:
        _require_columns(task.train_csv, [task.spec.group_column])
    if task.spec.time_column is not None:
        _require_columns(task.train_csv, [task.spec.time_column])
    if spec.row_files is not None:
        test_columns = [spec.id_column] if task.test_is_sample else _columns(task.test_csv)
        try:
            check_patterns(spec.row_files, _columns(task.train_csv), test_columns)
        except RowFilesError as e:
            raise TaskError(f"{directory / 'task.yaml'}: {e}") from None
    return task


def _read_spec(path: Path) -> TaskSpec:
    if not path.is_file():
        raise TaskError(
            f"{path} is missing; write one with at least name, metric, id_column and target_columns"
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise TaskError(f"{path} is not valid YAML ({e}); fix its syntax") from None
    if not isinstance(raw, dict):
        raise TaskError(f"{path} must be a YAML mapping (key: value lines), not {type(raw).__name__}")
    try:
        spec = TaskSpec.model_validate(raw)
    except ValidationError as e:
        raise TaskError(f"{path}: {_explain(e)}") from None
    if not spec.target_columns:
        raise TaskError(f"{path}: target_columns is empty; list the column(s) a submission predicts")
    files = (
        ("train_file", "public"),
        ("test_file", "public"),
        ("answers_file", "private"),
        ("sample_file", "public"),
    )
    for key, folder in files:
        name = getattr(spec, key)
        parts = PurePosixPath(name).parts
        if not parts or name.startswith("/") or ".." in parts:
            raise TaskError(f"{path}: {key} must be a file's path under prepared/{folder}, got {name!r}")
    if spec.label_separator is not None and spec.label_column is None:
        raise TaskError(f"{path}: label_separator splits label_column's cells; set label_column too")
    if spec.unseen_label is not None and len(spec.target_columns) != 1:
        raise TaskError(f"{path}: unseen_label needs a single target column, got {spec.target_columns}")
    if spec.label_column is not None and len(spec.target_columns) < 2:
        raise TaskError(
            f"{path}: label_column {spec.label_column!r} needs one target column per class "
            f"(the submission's probability columns), got {spec.target_columns}"
        )
    unknown = sorted(set(spec.train_columns) - set(spec.hidden_columns))
    if unknown:
        raise TaskError(
            f"{path}: train_columns renames {unknown}, which are not answer columns; list them in "
            "answer_columns too"
        )
    unscorable = [c for c in spec.scored_columns if c not in spec.target_columns]
    if unscorable:
        raise TaskError(f"{path}: scored_columns {unscorable} are not target columns; list them there too")
    if spec.time_column is not None and spec.group_column is not None:
        raise TaskError(f"{path}: set one of group_column and time_column; the HCE split follows one of them")
    if spec.time_column is not None and spec.layout is not None:
        raise TaskError(
            f"{path}: time_column orders the rows of a table task; layout {spec.layout!r} splits its "
            "own units"
        )
    if not spec.targets_in_answers and not spec.answer_columns:
        raise TaskError(
            f"{path}: targets_in_answers is false, so the grader needs answer_columns to grade against"
        )
    return spec


def _explain(error: ValidationError) -> str:
    problems = []
    for err in error.errors():
        key = ".".join(str(part) for part in err["loc"])
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown key {key!r} (allowed: {', '.join(TaskSpec.model_fields)})")
        elif err["type"] == "missing":
            problems.append(f"required key {key!r} is missing")
        else:
            problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(problems)


def _columns(path: Path) -> list[str]:
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (ValueError, UnicodeDecodeError) as e:
        raise TaskError(f"{path} is not a readable CSV ({e})") from None


def _require_columns(path: Path, columns: list[str]) -> None:
    header = _columns(path)
    missing = [c for c in columns if c not in header]
    if missing:
        raise TaskError(
            f"{path} lacks the column(s) {', '.join(map(repr, missing))} named in task.yaml "
            f"(it has {', '.join(map(repr, list(header)[:10]))}{', ...' if len(header) > 10 else ''}); "
            "fix the column keys of task.yaml (id_column, target_columns, label_column, answer_columns, "
            "train_columns, score_where) or the file"
        )
