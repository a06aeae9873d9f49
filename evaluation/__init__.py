"""Hidden Consistent Evaluation, metrics, leaderboards and task loading (plain Python, no Ray)."""

from evaluation.hce import HiddenConsistentEvaluation
from evaluation.leaderboard import Leaderboard, LeaderboardError
from evaluation.metrics import Metric, UnknownMetricError, get_metric, metric_names
from evaluation.scores import Scores
from evaluation.submission import SubmissionError, read_submission
from evaluation.task import Task, TaskError, TaskSpec, load_task

__all__ = [
    "HiddenConsistentEvaluation",
    "Leaderboard",
    "LeaderboardError",
    "Metric",
    "Scores",
    "SubmissionError",
    "Task",
    "TaskError",
    "TaskSpec",
    "UnknownMetricError",
    "get_metric",
    "load_task",
    "metric_names",
    "read_submission",
]
