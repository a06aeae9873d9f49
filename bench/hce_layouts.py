"""HCE on the two largest tables of MLE-bench-30 after taxi, at a size this machine holds: time and
peak memory of the split, the agent's copy and one scoring.

Usage: python bench/hce_layouts.py nfl [plays]   (default 60 plays of 22 players x 80 steps: 1.2M
                                                   label rows; the real train_labels.csv has 4.7M)
       python bench/hce_layouts.py hm [rows]     (default 5,000,000 transactions of 300,000 customers;
                                                   the real file has 31M of 1.37M)
Lays out a task as the competition's prepare.py does (evaluation/nfl_contact.py,
evaluation/purchase_weeks.py), then, in a fresh process each, started from a small one: builds the
evaluator, writes the agent's copy, scores the copy's sample submission. Prints wall time and peak RSS
above the process before the step.
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES = {"nfl": "nfl-player-contact-detection", "hm": "h-and-m-personalized-fashion-recommendations"}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _folders(root: Path, name: str) -> tuple[Path, Path]:
    public = root / "data" / name / "prepared" / "public"
    private = public.parent / "private"
    public.mkdir(parents=True)
    private.mkdir()
    (public / "description.md").write_text(f"# {name} (bench)\n")
    return public, private


def lay_out_nfl(root: Path, plays: int) -> None:
    import numpy as np
    import pandas as pd

    public, private = _folders(root, NAMES["nfl"])
    rng = np.random.default_rng(0)
    players, steps = 22, 80
    names = [f"{58000 + i // 3}_{(i % 3) * 1000 + 17:06d}" for i in range(plays)]
    ids = np.arange(30000, 30000 + players)
    a, b = np.triu_indices(players, 1)
    first = np.concatenate([ids[a], ids])
    second = np.concatenate([ids[b].astype(str), np.full(players, "G")])
    tables = []
    for play in names:
        step = np.repeat(np.arange(steps), len(first))
        p1, p2 = np.tile(first, steps), np.tile(second, steps)
        contact_id = [f"{play}_{s}_{x}_{y}" for s, x, y in zip(step, p1, p2, strict=True)]
        contact = (rng.random(len(step)) < 0.05).astype(int)
        tables.append(
            pd.DataFrame(
                {
                    "contact_id": contact_id,
                    "game_play": play,
                    "datetime": "2020-09-11T03:01:48.100Z",
                    "step": step,
                    "nfl_player_id_1": p1,
                    "nfl_player_id_2": p2,
                    "contact": contact,
                }
            )
        )
    labels = pd.concat(tables)
    test_plays = set(names[-max(3, plays // 10) :])
    test = labels["game_play"].isin(test_plays)
    labels[~test].to_csv(public / "train_labels.csv", index=False)
    labels[test].to_csv(private / "test.csv", index=False)
    labels[test][["contact_id"]].assign(contact=0).to_csv(public / "sample_submission.csv", index=False)
    for side, side_plays in (
        ("train", [p for p in names if p not in test_plays]),
        ("test", sorted(test_plays)),
    ):
        n = steps * players * len(side_plays)
        pd.DataFrame(
            {"game_play": np.repeat(side_plays, steps * players), "game_key": 1, "play_id": 1,
             "nfl_player_id": np.tile(ids, steps * len(side_plays)), "step": np.arange(n) // players % steps,
             "x_position": 1.0}
        ).to_csv(public / f"{side}_player_tracking.csv", index=False)  # fmt: skip
        helmets = pd.DataFrame({"game_play": np.repeat(side_plays, 400), "game_key": 1, "frame": 1})
        helmets.assign(video=helmets["game_play"] + "_Endzone.mp4").to_csv(
            public / f"{side}_baseline_helmets.csv", index=False
        )
        meta = pd.DataFrame({"game_play": side_plays, "game_key": 1, "view": "Endzone"})
        meta.to_csv(public / f"{side}_video_metadata.csv", index=False)
        (public / side).mkdir()
        for play in side_plays:
            for view in ("All29", "Endzone", "Sideline"):
                (public / side / f"{play}_{view}.mp4").write_bytes(b"\0" * 70_000)


def lay_out_hm(root: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    public, private = _folders(root, NAMES["hm"])
    rng = np.random.default_rng(0)
    customers = np.array([f"{i:064x}" for i in range(300_000)])
    days = pd.date_range("2018-09-20", "2020-09-14").strftime("%Y-%m-%d").to_numpy()
    who = customers[rng.integers(0, len(customers), rows)]
    pd.DataFrame(
        {"t_dat": np.sort(rng.choice(days, rows)), "customer_id": who,
         "article_id": rng.integers(108775015, 959461001, rows), "price": 0.0338813559322034,
         "sales_channel_id": 2}
    ).to_csv(public / "transactions_train.csv", index=False)  # fmt: skip
    sample = pd.DataFrame({"customer_id": customers, "prediction": "0706016001 0706016002"})
    sample.to_csv(public / "sample_submission.csv", index=False)
    buyers = sample.sample(50_000, random_state=1)["customer_id"]
    pd.DataFrame({"customer_id": buyers, "prediction": "706016001 372860001"}).to_csv(
        private / "answers.csv", index=False
    )
    for name in ("articles.csv", "customers.csv"):
        (public / name).write_text("id\n1\n")


def step(kind: str, name: str, root: Path) -> dict[str, float]:
    """One measured step, in this (fresh) process."""
    from evaluation.layouts import hidden_consistent_evaluation
    from evaluation.mlebench import load_mlebench_task

    (root / "repo" / "mlebench" / "competitions" / NAMES[kind]).mkdir(parents=True, exist_ok=True)
    grader = {"nfl": "matthews-correlation-coefficient", "hm": "MAP@12"}[kind]
    answers = {"nfl": "test.csv", "hm": "answers.csv"}[kind]
    (root / "repo" / "mlebench" / "competitions" / NAMES[kind] / "config.yaml").write_text(
        f"dataset:\n  answers: {NAMES[kind]}/prepared/private/{answers}\ngrader:\n  name: {grader}\n"
    )
    task = load_mlebench_task(root / "data", NAMES[kind], root / "repo", root / "cache")
    baseline = _peak_mb()
    started = time.perf_counter()
    hce = hidden_consistent_evaluation(task, split_seed=0)
    result: dict[str, float] = {"evaluator_s": time.perf_counter() - started}
    result.update({f"{k}_units": float(len(v)) for k, v in hce.split_ids().items()})
    if name == "copy":
        started = time.perf_counter()
        hce.write_public(root / "copy")
        result["copy_s"] = time.perf_counter() - started
    if name == "score":
        data = (root / "copy" / task.spec.sample_file).read_bytes()
        started = time.perf_counter()
        scores = hce.score(data)
        result["score_s"] = time.perf_counter() - started
        result["valid"] = float(scores.valid)
        result["submission_mb"] = len(data) / 2**20
    result["peak_mb_above_baseline"] = _peak_mb() - baseline
    return result


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "nfl"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else {"nfl": 60, "hm": 5_000_000}[kind]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        # In a process of its own: a child of a big parent starts with the parent's peak RSS.
        subprocess.run(
            [sys.executable, __file__, "--lay-out", kind, str(size), str(root)], cwd=ROOT, check=True
        )
        print(f"{NAMES[kind]}: size {size:,}, laid out in {time.perf_counter() - started:.0f} s")
        for name in ("split", "copy", "score"):
            out = subprocess.run(
                [sys.executable, __file__, "--step", kind, name, str(root)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            )
            print(name, out.stdout.strip())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if len(sys.argv) == 5 and sys.argv[1] == "--lay-out":
        {"nfl": lay_out_nfl, "hm": lay_out_hm}[sys.argv[2]](Path(sys.argv[4]), int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--step":
        print(
            json.dumps({k: round(v, 2) for k, v in step(sys.argv[2], sys.argv[3], Path(sys.argv[4])).items()})
        )
    else:
        main()
