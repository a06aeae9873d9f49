"""report.html of one run, built from its run directory alone.

It reads journal.jsonl, nodes/*/ (solution.py, trajectory.json) and result.json. The evaluator's sealed
D_val and D_test scores are read only once result.json exists, that is after the search has ended and
the final node was picked: the report never feeds anything back into a search.
"""

import json
from html import escape
from pathlib import Path
from typing import NamedTuple

from pydantic import ValidationError

from agents.candidate import Trajectory
from evaluation.scores import Scores
from launcher.html_report._page import cell, clipped, page, table
from launcher.html_report._svg import OPERATOR_COLOURS, Point, Series, TreeNode, lineage_tree, time_plot
from launcher.result import RunResult, search_score_name, selection_words
from search.journal import Journal
from search.node import Node
from search.run_dir import RunDir

REPORT_FILE = "report.html"
# The evaluator's file of every submission's scores (actors/evaluator.py writes it).
SEALED_FILE = "sealed_scores.jsonl"
# Long code and tool output is cut in the page; the node's own files hold all of it.
_CODE_CHARS = 20_000
_FIELD_CHARS = 4_000


class RunRecord(NamedTuple):
    """What the report shows of a run: its nodes, its result once it ended, the sealed scores then."""

    rd: RunDir
    nodes: list[Node]
    result: RunResult | None
    sealed: dict[int, Scores]


def load_run(run_dir: Path) -> RunRecord:
    """Read a run directory; ValueError naming the file when it is not one or cannot be read."""
    rd = RunDir(run_dir)
    if not rd.journal.is_file():
        raise ValueError(f"{run_dir} is not a run directory: it has no journal.jsonl")
    result = None
    if rd.result.is_file():
        try:
            result = RunResult.model_validate_json(rd.result.read_text())
        except ValidationError as e:
            raise ValueError(
                f"{rd.result} is not a result.json of this project: {e.errors()[0]['msg']}"
            ) from None
    sealed: dict[int, Scores] = {}
    path = rd.hidden_dir / SEALED_FILE
    if result is not None and path.is_file():  # only after the search has ended
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                sealed[int(rec["node_id"])] = Scores.model_validate(rec["scores"])
    return RunRecord(rd, sorted(Journal(rd.journal).load(), key=lambda n: n.id), result, sealed)


def _t0(nodes: list[Node]) -> float:
    return min((n.started_at for n in nodes), default=0.0)


def _best_over_time(nodes: list[Node], lower_is_better: bool) -> list[Point]:
    best: float | None = None
    points = []
    for n in sorted(nodes, key=lambda n: n.scored_at):
        if n.valid and n.search_score is not None:
            s = n.search_score
            if best is None or (s < best if lower_is_better else s > best):
                best = s
                points.append(
                    Point(n.scored_at - _t0(nodes), s, f"#node-{n.id}", f"node {n.id}: {s:.6g}", "#d4202a")
                )
    return points


def _lower_is_better(rec: RunRecord) -> bool | None:
    """The task's direction, read off the search's own best node in result.json; None before it ends."""
    if rec.result is None or rec.result.best_search_node is None:
        return None
    scores = {n.id: n.search_score for n in rec.nodes if n.valid and n.search_score is not None}
    best = scores.get(rec.result.best_search_node)
    if best is None:
        return None
    return best < max(scores.values())


def _score_name(rec: RunRecord) -> str:
    """What the nodes' search scores are (D_search, or self-reported with hce.enabled=false)."""
    return search_score_name(rec.result.final_selection if rec.result else None)


def _summary(rec: RunRecord) -> str:
    r = rec.result
    valid = sum(n.valid for n in rec.nodes)
    rows = [("nodes finished / valid", f"{len(rec.nodes)} / {valid}")]
    if r is None:
        rows.append(("state", "running or interrupted: no result.json yet (sealed scores hidden)"))
    else:
        rows += [
            ("task / seed", f"{r.task} / {r.seed}"),
            (
                f"final node ({selection_words(r.final_selection)})",
                "-" if r.best_node is None else f"node {r.best_node}",
            ),
            (
                f"{search_score_name(r.final_selection).removesuffix(' score')} / D_val / D_test",
                " / ".join(
                    "-" if v is None else f"{v:.6g}" for v in (r.search_score, r.val_score, r.test_score)
                ),
            ),
            ("percentile rank", "-" if r.percentile_rank is None else f"{r.percentile_rank:.1f}"),
            ("medal", r.medal or "none"),
            ("workers / wall clock", f"{r.workers} / {r.wall_s:.0f} s"),
            ("policy / tokens", f"{r.policy} / {r.prompt_tokens} prompt + {r.completion_tokens} completion"),
        ]
        if r.budget_stop:
            rows.append(("budget stop", r.budget_stop))
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table id="summary">{body}</table>'


def _plots(rec: RunRecord, lower_is_better: bool | None) -> list[str]:
    t0 = _t0(rec.nodes)
    name = _score_name(rec)
    scored = [n for n in rec.nodes if n.valid and n.search_score is not None]
    nodes = [
        Point(
            n.scored_at - t0,
            n.search_score or 0.0,
            f"#node-{n.id}",
            f"node {n.id} ({n.operator}): {n.search_score:.6g}",
            OPERATOR_COLOURS[n.operator],
        )
        for n in scored
    ]
    out = [
        f"<h2>{escape(name)} over time</h2>",
        '<p class="keys">'
        + "".join(
            f'<span><i class="swatch" style="background:{c}"></i> {op}</span>'
            for op, c in OPERATOR_COLOURS.items()
        )
        + "</p>",
        time_plot(
            [
                # The running best needs the task's direction, which the run directory states only
                # once the search has ended (result.json's best node).
                *(
                    [Series("best so far", _best_over_time(rec.nodes, lower_is_better), "#d4202a", step=True)]
                    if lower_is_better is not None
                    else []
                ),
                Series("each valid node", nodes, "#555"),
            ],
            "seconds since the first job started",
            name,
            "score-plot",
        ),
    ]
    gap = [(n, rec.sealed.get(n.id)) for n in scored]
    val = [
        Point(n.search_score or 0.0, s.val, f"#node-{n.id}", f"node {n.id}", "#3b6fd4")
        for n, s in gap
        if s and s.val is not None
    ]
    test = [
        Point(n.search_score or 0.0, s.test, f"#node-{n.id}", f"node {n.id}", "#e08a1e")
        for n, s in gap
        if s and s.test is not None
    ]
    if val or test:
        out += [
            "<h2>Generalisation gap (after the search)</h2>",
            f"<p>Each valid node's D_val and D_test score against its {escape(name)}, read from the "
            "evaluator's sealed scores once the search had ended.</p>",
            time_plot(
                [Series("D_val", val, "#3b6fd4"), Series("D_test", test, "#e08a1e")],
                name,
                "score",
                "gap-plot",
                x_from_zero=False,
            ),
        ]
    return out


def _tree(rec: RunRecord) -> list[str]:
    final = rec.result.best_node if rec.result else None
    nodes = [
        TreeNode(n.id, n.parent_ids, n.operator, n.valid, n.search_score, n.id == final) for n in rec.nodes
    ]
    return [
        "<h2>Lineage tree</h2>",
        "<p>Parents above children; colour = operator, grey = invalid, red ring = the final node. "
        "Click a node for its code and trajectory.</p>",
        f'<div class="scroll">{lineage_tree(nodes, "lineage-tree")}</div>',
    ]


def _nodes_table(rec: RunRecord) -> list[str]:
    final = rec.result.best_node if rec.result else None
    headers = ["node", "operator", "parents", "valid", _score_name(rec).removesuffix(" score")]
    if rec.sealed:
        headers += ["D_val", "D_test"]
    headers += ["worker", "steps", "seconds", "tokens", "reason"]
    rows = []
    for n in rec.nodes:
        cells = [
            cell(n.id, f"#node-{n.id}"),
            cell(n.operator),
            cell(", ".join(map(str, n.parent_ids)) or "-"),
            cell("yes" if n.valid else "no"),
            cell(n.search_score),
        ]
        if rec.sealed:
            s = rec.sealed.get(n.id)
            cells += [cell(s.val if s else None), cell(s.test if s else None)]
        cells += [
            cell(n.worker_id),
            cell(n.steps),
            cell(round(n.ended_at - n.started_at, 1)),
            cell(n.prompt_tokens + n.completion_tokens),
            cell(n.reason or ""),
        ]
        cls = "final" if n.id == final else ("" if n.valid else "invalid")
        rows.append((cells, cls))
    return ["<h2>Nodes</h2>", table(headers, rows, "nodes-table")]


def _trajectory(path: Path) -> str:
    if not path.is_file():
        return "<p>no trajectory.json</p>"
    try:
        trajectory = Trajectory.model_validate_json(path.read_text())
    except (ValidationError, ValueError) as e:
        return f"<p>trajectory.json cannot be read: {escape(str(e).splitlines()[0])}</p>"
    if not trajectory.steps:
        return "<p>no step (the episode ended before its first reply)</p>"
    out = []
    for step in trajectory.steps:
        args = step.arguments if isinstance(step.arguments, str) else json.dumps(step.arguments, indent=1)
        css = "step error" if step.error else "step"
        out.append(
            f'<div class="{css}"><div class="meta">turn {step.index} · tool {escape(step.tool or "none")} · '
            f"{step.duration_s:.2f} s</div>"
            + (f"<pre>{clipped(step.reasoning, _FIELD_CHARS)}</pre>" if step.reasoning else "")
            + (f"<div>call:</div><pre>{clipped(args, _FIELD_CHARS)}</pre>" if step.tool else "")
            + (
                f"<div>output:</div><pre>{clipped(step.observation, _FIELD_CHARS)}</pre>"
                if step.observation
                else ""
            )
            + (f'<div class="meta">error: {escape(step.error)}</div>' if step.error else "")
            + "</div>"
        )
    return "".join(out)


def _node_sections(rec: RunRecord) -> list[str]:
    out = ["<h2>Each node: code and trajectory</h2>"]
    for n in rec.nodes:
        d = rec.rd.node_dir(n.id)
        rel = d.relative_to(rec.rd.root).as_posix()
        code_path = d / "solution.py"
        code = code_path.read_text() if code_path.is_file() else ""
        files = [
            f
            for f in ("solution.py", "submission.csv", "trajectory.json", "scores.json")
            if (d / f).is_file()
        ]
        links = " · ".join(f'<a href="{rel}/{f}">{f}</a>' for f in files)
        score = "invalid" if not n.valid else f"{n.search_score:.6g}" if n.search_score is not None else "-"
        parents = ", ".join(f'<a href="#node-{p}">{p}</a>' for p in n.parent_ids)
        reason = f" · {escape(n.reason)}" if n.reason else ""
        out += [
            f'<section id="node-{n.id}"><h3>node {n.id}: {n.operator}',
            f" of {parents}" if parents else "",
            f' · {escape(score)}</h3><p class="meta">{links}{reason}</p>',
            f"<details><summary>code ({len(code.splitlines())} lines)</summary>",
            f"<pre>{clipped(code, _CODE_CHARS)}</pre></details>",
            f"<details><summary>trajectory ({n.steps} steps)</summary>",
            f"{_trajectory(d / 'trajectory.json')}</details></section>",
        ]
    return out


def render_run(rec: RunRecord) -> str:
    """The whole report page of one run."""
    lower = _lower_is_better(rec)
    name = rec.result.task if rec.result else rec.rd.root.name
    body = [
        f"<h1>AIRA-2 run: {escape(name)}</h1>",
        f'<p class="meta">{escape(str(rec.rd.root))}</p>',
        _summary(rec),
        *_plots(rec, lower),
        *_tree(rec),
        *_nodes_table(rec),
        *_node_sections(rec),
    ]
    return page(f"AIRA-2 run {name}", body)


def write_run_report(run_dir: Path) -> Path:
    """Write run_dir/report.html from the run directory; returns its path."""
    rec = load_run(run_dir)
    out = run_dir / REPORT_FILE
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_run(rec), encoding="utf-8")
    tmp.replace(out)
    return out
