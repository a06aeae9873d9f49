"""HCE on billion-word-imputation's shape: time and peak memory of the streamed split, the agent's copy
and one scoring, at a line count this machine can hold quickly (the real train_v2.txt has 30M lines).

Usage: python bench/hce_billion_words.py [lines]   (default 300,000)
Writes train_v2.txt.zip (sentences of 2 to 30 words), a test set of 1% of the lines as prepare.py
does (test_v2.txt.zip, private test.csv and sample_submission.csv), then in this process: builds the
evaluator (streams the lines, draws the split, keeps the hidden sentences), writes the agent's copy
(streams D_train into its zip), and scores one submission (every hidden sentence left without its
word). Reports wall time and the growth of peak resident memory after each step.
"""

import multiprocessing
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.layouts import hidden_consistent_evaluation  # noqa: E402
from evaluation.mlebench import load_mlebench_task  # noqa: E402

NAME = "billion-word-imputation"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lay_out(root: Path, lines: int) -> None:
    """The competition's prepared files, with synthetic sentences."""
    rng = np.random.default_rng(0)
    vocabulary = np.array([f"w{k}" for k in range(5000)])
    public, private = (
        root / "data" / NAME / "prepared" / "public",
        root / "data" / NAME / "prepared" / "private",
    )
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    (public / "description.md").write_text(f"# {NAME}\n")
    train, test, answers = [], ['"id","sentence"'], ['"id","sentence"']
    for _ in range(lines):
        words = list(vocabulary[rng.integers(0, len(vocabulary), int(rng.integers(2, 30)))])
        if rng.uniform() < 0.01 and len(words) > 2:
            answers.append(f'{len(test) - 1},"{" ".join(words)}"')
            del words[int(rng.integers(1, len(words) - 1))]
            test.append(f'{len(test) - 1},"{" ".join(words)}"')
        else:
            train.append(" ".join(words) + "\n")
    with zipfile.ZipFile(public / "train_v2.txt.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("train_v2.txt", "".join(train))
    with zipfile.ZipFile(public / "test_v2.txt.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("test_v2.txt", "\n".join(test) + "\n")
    (private / "test.csv").write_text("\n".join(answers) + "\n")
    (private / "sample_submission.csv").write_text("\n".join(test) + "\n")
    config = root / "repo" / "mlebench" / "competitions" / NAME
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f"id: {NAME}\ngrader:\n  name: levenshtein-distance\n")


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # In a child process, so the peak memory below is the evaluator's, not the generator's.
        child = multiprocessing.get_context("spawn").Process(target=lay_out, args=(root, lines))
        child.start()
        child.join()
        task = load_mlebench_task(root / "data", NAME, root / "repo", root / "cache")
        base = _peak_mb()
        start = time.perf_counter()
        hce = hidden_consistent_evaluation(task, 2603)
        print(
            f"evaluator (stream, split, hidden sentences): {time.perf_counter() - start:.1f} s, "
            f"peak RSS +{_peak_mb() - base:.0f} MB"
        )
        start = time.perf_counter()
        hce.write_public(root / "public")
        print(f"agent's copy: {time.perf_counter() - start:.1f} s, peak RSS +{_peak_mb() - base:.0f} MB")
        with zipfile.ZipFile(root / "public" / "test_v2.txt.zip") as archive:
            submission = archive.read("test_v2.txt")
        start = time.perf_counter()
        scores = hce.score(submission)
        rows = submission.count(b"\n") - 1
        print(
            f"one scoring of {rows} sentences: {time.perf_counter() - start:.1f} s, "
            f"peak RSS +{_peak_mb() - base:.0f} MB, valid={scores.valid}, search={scores.search}"
        )


if __name__ == "__main__":
    main()
