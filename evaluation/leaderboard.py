"""A competition leaderboard: MLE-bench medal thresholds and AIRA_2's percentile rank."""

import math
from pathlib import Path
from typing import Literal

import pandas as pd

Medal = Literal["gold", "silver", "bronze"]


class LeaderboardError(Exception):
    """A leaderboard file is unusable; the message names the file and the fix."""


class Leaderboard:
    """Scores of a leaderboard, best first, and the direction that makes them best first."""

    def __init__(self, scores: list[float], lower_is_better: bool) -> None:
        if not scores:
            raise LeaderboardError("a leaderboard needs at least one score")
        self.scores = scores
        self.lower_is_better = lower_is_better

    @classmethod
    def from_csv(cls, path: Path, lower_is_better: bool | None = None) -> "Leaderboard":
        """Read a CSV with a `score` column, best first; other columns are ignored.

        Without `lower_is_better` the direction is read off the order, like MLE-bench: the first
        score below the last means lower is better (all equal: higher is better).
        """
        try:
            table = pd.read_csv(path)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise LeaderboardError(f"leaderboard {path} is not a readable CSV ({e})") from None
        if "score" not in table.columns:
            raise LeaderboardError(f"leaderboard {path} has no `score` column; add one (best first)")
        scores = pd.to_numeric(table["score"], errors="coerce")
        if scores.isna().any() or len(scores) == 0:
            raise LeaderboardError(
                f"leaderboard {path} needs at least one row and a number in every `score` cell "
                f"({int(scores.isna().sum())} are empty or not numbers)"
            )
        values = [float(s) for s in scores]
        from_order = values[0] < values[-1]
        if lower_is_better is None:
            lower_is_better = from_order
        elif values[0] != values[-1] and from_order != lower_is_better:
            raise LeaderboardError(
                f"leaderboard {path} is sorted worst first for a "
                f"{'lower' if lower_is_better else 'higher'}-is-better score; sort it best first"
            )
        return cls(values, lower_is_better)

    def __len__(self) -> int:
        return len(self.scores)

    def thresholds(self) -> dict[str, float]:
        """Scores needed for gold, silver and bronze, and the median (MLE-bench's rule)."""
        n = len(self.scores)
        if n < 100:
            gold, silver, bronze = (max(1, math.floor(f * n)) for f in (0.1, 0.2, 0.4))
        elif n < 250:
            gold, silver, bronze = 10, math.floor(0.2 * n), math.floor(0.4 * n)
        elif n < 1000:
            gold, silver, bronze = 10 + math.floor(0.002 * n), 50, 100
        else:
            gold, silver, bronze = 10 + math.floor(0.002 * n), math.floor(0.05 * n), math.floor(0.1 * n)
        return {
            "gold": self.scores[gold - 1],
            "silver": self.scores[silver - 1],
            "bronze": self.scores[bronze - 1],
            "median": float(pd.Series(self.scores).median()),
        }

    def _at_least(self, score: float, threshold: float) -> bool:
        return score <= threshold if self.lower_is_better else score >= threshold

    def medal(self, score: float | None) -> Medal | None:
        """The best medal this score earns (at or beyond the threshold), None for none or no score."""
        if score is None or math.isnan(score):
            return None
        thresholds = self.thresholds()
        for medal in ("gold", "silver", "bronze"):
            if self._at_least(score, thresholds[medal]):
                return medal
        return None

    def above_median(self, score: float | None) -> bool:
        """Strictly better than the leaderboard's median."""
        if score is None or math.isnan(score):
            return False
        median = self.thresholds()["median"]
        return score < median if self.lower_is_better else score > median

    def percentile_rank(self, score: float | None) -> float:
        """P = (N - R) / (N - 1) x 100 with the score inserted (N counts it, ties share the mean rank).

        No score (an invalid submission) ranks last: 0.
        """
        if score is None or math.isnan(score):
            return 0.0
        if self.lower_is_better:
            better = sum(s < score for s in self.scores)
        else:
            better = sum(s > score for s in self.scores)
        tied = sum(s == score for s in self.scores)
        n = len(self.scores) + 1
        # The tie group (the score and its equals) holds ranks better+1 .. better+tied+1.
        rank = better + 1 + tied / 2
        return (n - rank) / (n - 1) * 100
