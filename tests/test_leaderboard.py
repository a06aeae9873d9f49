"""Medal thresholds, medals and percentile ranks on hand-made and real MLE-bench leaderboards."""

import csv
import math
from pathlib import Path

import pandas as pd
import pytest

from evaluation.leaderboard import Leaderboard, LeaderboardError

MLEBENCH = Path(__file__).resolve().parents[2] / "shared" / "mlebench"
LEADERBOARDS = MLEBENCH / "leaderboards"
MEDALS = ["gold", "silver", "bronze"]


def write_board(path: Path, scores: list[float], extra: bool = False) -> Path:
    table = pd.DataFrame({"rank": range(1, len(scores) + 1), "score": scores})
    if extra:
        table["team"] = [f"team{i}" for i in range(len(scores))]
    table.to_csv(path, index=False)
    return path


def test_small_board_higher_is_better(tmp_path: Path) -> None:
    scores = [0.99, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4]
    board = Leaderboard.from_csv(write_board(tmp_path / "b.csv", scores, extra=True))
    assert not board.lower_is_better
    # N = 10: gold at position max(1, 1) = 1, silver 2, bronze 4; median of the ten scores.
    assert board.thresholds() == {"gold": 0.99, "silver": 0.95, "bronze": 0.85, "median": 0.775}
    assert board.medal(0.99) == "gold"
    assert board.medal(1.5) == "gold"
    assert board.medal(0.96) == "silver"
    assert board.medal(0.95) == "silver"
    assert board.medal(0.85) == "bronze"
    assert board.medal(0.84) is None
    assert board.medal(None) is None
    assert board.above_median(0.78)
    assert not board.above_median(0.775)
    assert not board.above_median(None)


def test_lower_is_better_read_off_the_order(tmp_path: Path) -> None:
    scores = [0.1, 0.2, 0.3, 0.4, 0.5]
    board = Leaderboard.from_csv(write_board(tmp_path / "b.csv", scores))
    assert board.lower_is_better
    assert board.thresholds()["gold"] == 0.1
    assert board.medal(0.05) == "gold"
    # N = 5: silver at position max(1, 1) = 1 like gold, bronze at 2.
    assert board.thresholds()["silver"] == 0.1
    assert board.medal(0.11) == "bronze"
    assert board.medal(0.2) == "bronze"
    assert board.medal(0.21) is None
    assert board.above_median(0.29)
    assert not board.above_median(0.3)
    assert board.percentile_rank(0.0) == 100.0
    assert board.percentile_rank(1.0) == 0.0


def test_equal_scores_take_the_given_direction_or_higher(tmp_path: Path) -> None:
    path = write_board(tmp_path / "b.csv", [0.5, 0.5, 0.5])
    assert not Leaderboard.from_csv(path).lower_is_better
    assert Leaderboard.from_csv(path, lower_is_better=True).lower_is_better


def test_threshold_positions_in_each_size_band(tmp_path: Path) -> None:
    # Expected positions written out from the rule in mlebench/README.md.
    for n, gold, silver, bronze in [
        (150, 10, 30, 60),
        (500, 11, 50, 100),
        (2000, 14, 100, 200),
        (5, 1, 1, 2),
    ]:
        scores = [float(n - i) for i in range(n)]
        board = Leaderboard.from_csv(write_board(tmp_path / f"b{n}.csv", scores))
        thresholds = board.thresholds()
        assert thresholds["gold"] == scores[gold - 1]
        assert thresholds["silver"] == scores[silver - 1]
        assert thresholds["bronze"] == scores[bronze - 1]


def test_percentile_rank_with_ties_and_invalid(tmp_path: Path) -> None:
    board = Leaderboard.from_csv(write_board(tmp_path / "b.csv", [10.0, 8.0, 8.0, 6.0, 4.0]))
    n = 6  # five entries plus ours
    assert board.percentile_rank(11.0) == 100.0
    assert board.percentile_rank(3.0) == 0.0
    # Between 8 and 6: three better, rank 4.
    assert board.percentile_rank(7.0) == pytest.approx((n - 4) / (n - 1) * 100)
    # Tied with the two 8s: the group holds ranks 2, 3, 4, average 3.
    assert board.percentile_rank(8.0) == pytest.approx((n - 3) / (n - 1) * 100)
    # Tied with the best: ranks 1 and 2, average 1.5.
    assert board.percentile_rank(10.0) == pytest.approx((n - 1.5) / (n - 1) * 100)
    assert board.percentile_rank(None) == 0.0
    assert board.percentile_rank(math.nan) == 0.0


def test_unusable_files_give_clear_errors(tmp_path: Path) -> None:
    no_score = tmp_path / "no_score.csv"
    no_score.write_text("rank,points\n1,3\n")
    with pytest.raises(LeaderboardError, match="no `score` column"):
        Leaderboard.from_csv(no_score)
    bad = tmp_path / "bad.csv"
    bad.write_text("rank,score\n1,abc\n")
    with pytest.raises(LeaderboardError, match="number in every `score` cell"):
        Leaderboard.from_csv(bad)
    with pytest.raises(LeaderboardError, match="not a readable CSV"):
        Leaderboard.from_csv(tmp_path / "absent.csv")
    worst_first = write_board(tmp_path / "w.csv", [0.1, 0.5, 0.9])
    with pytest.raises(LeaderboardError, match="sort it best first"):
        Leaderboard.from_csv(worst_first, lower_is_better=False)


def _real_boards() -> list[Path]:
    return sorted(LEADERBOARDS.glob("*.csv")) if LEADERBOARDS.is_dir() else []


def _tsv_directions() -> dict[str, str]:
    with (MLEBENCH / "competitions.tsv").open() as f:
        return {row["competition"]: row["lower_is_better"] for row in csv.DictReader(f, delimiter="\t")}


@pytest.mark.skipif(not LEADERBOARDS.is_dir(), reason="MLE-bench reference leaderboards not available")
@pytest.mark.parametrize("path", _real_boards(), ids=lambda p: p.stem)
def test_real_leaderboards(path: Path) -> None:
    scores = pd.read_csv(path)["score"].tolist()
    n = len(scores)
    board = Leaderboard.from_csv(path)
    assert len(board) == n
    direction = _tsv_directions().get(path.stem)
    if direction in ("true", "false"):
        assert board.lower_is_better == (direction == "true")
    if n < 100:
        positions = [max(1, int(f * n)) for f in (0.1, 0.2, 0.4)]
    elif n < 250:
        positions = [10, int(0.2 * n), int(0.4 * n)]
    elif n < 1000:
        positions = [10 + int(0.002 * n), 50, 100]
    else:
        positions = [10 + int(0.002 * n), int(0.05 * n), int(0.1 * n)]
    thresholds = board.thresholds()
    for medal, position in zip(("gold", "silver", "bronze"), positions, strict=True):
        assert thresholds[medal] == scores[position - 1]
        # A score at a threshold earns that medal, or a better one when thresholds coincide.
        earned = board.medal(scores[position - 1])
        assert earned is not None and MEDALS.index(earned) <= MEDALS.index(medal)
    assert thresholds["median"] == pytest.approx(float(pd.Series(scores).median()))
    assert board.medal(scores[0]) == "gold"
    best, worst = scores[0], scores[-1]
    step = 1.0 if board.lower_is_better else -1.0
    assert board.percentile_rank(best - step) == 100.0
    assert board.percentile_rank(worst + step) == 0.0
    ties_with_best = sum(s == best for s in scores)
    assert board.percentile_rank(best) == pytest.approx((n + 1 - (1 + ties_with_best / 2)) / n * 100)
    assert board.percentile_rank(best) > 90.0 or ties_with_best > n / 20
