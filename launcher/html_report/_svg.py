"""Inline SVG drawings for the reports: a time plot of scores, the lineage tree, a dot plot per task.

Drawn here, in Python, as plain SVG text: the pages need no script and no library to show them.
"""

from collections.abc import Sequence
from html import escape
from typing import NamedTuple

OPERATOR_COLOURS = {"draft": "#3b6fd4", "mutate": "#2e9e5b", "crossover": "#e08a1e"}
INVALID_COLOUR = "#b8b8b8"
_MARGIN_L, _MARGIN_R, _MARGIN_T, _MARGIN_B = 64, 16, 28, 40


class Point(NamedTuple):
    """One point of a plot; `href` makes it a link, `title` its tooltip."""

    x: float
    y: float
    href: str | None = None
    title: str = ""
    colour: str = "#3b6fd4"


class Series(NamedTuple):
    """Points drawn as dots, or as a step line (the running best) when `step` is set."""

    name: str
    points: Sequence[Point]
    colour: str
    step: bool = False


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def _span(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:  # one value (or all equal): give it room above and below
        pad = abs(lo) * 0.05 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _dot(cx: float, cy: float, p: Point, css: str) -> str:
    circle = (
        f'<circle class="{css}" cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{p.colour}">'
        f"<title>{escape(p.title)}</title></circle>"
    )
    return f'<a href="{escape(p.href)}">{circle}</a>' if p.href else circle


def time_plot(
    series: Sequence[Series], x_label: str, y_label: str, css_id: str, x_from_zero: bool = True
) -> str:
    """A plot of y against x (time from 0, or any value): a step line or dots per series, a legend."""
    points = [p for s in series for p in s.points]
    if not points:
        return f'<p class="empty" id="{css_id}">no scored node yet</p>'
    width, height = 760, 300
    x0, x1 = (0.0, max(max(p.x for p in points), 1.0)) if x_from_zero else _span([p.x for p in points])
    y0, y1 = _span([p.y for p in points])
    inner_w = width - _MARGIN_L - _MARGIN_R
    inner_h = height - _MARGIN_T - _MARGIN_B

    def sx(x: float) -> float:
        return _MARGIN_L + (x - x0) / (x1 - x0) * inner_w

    def sy(y: float) -> float:
        return _MARGIN_T + (1 - (y - y0) / (y1 - y0)) * inner_h

    out = [
        f'<svg id="{css_id}" class="plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
    ]
    out.append(f'<rect x="{_MARGIN_L}" y="{_MARGIN_T}" width="{inner_w}" height="{inner_h}" class="frame"/>')
    for t in _ticks(y0, y1):
        out.append(
            f'<line class="grid" x1="{_MARGIN_L}" x2="{width - _MARGIN_R}" '
            f'y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>'
        )
        out.append(
            f'<text class="tick" x="{_MARGIN_L - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:.4g}</text>'
        )
    for t in _ticks(x0, x1):
        out.append(
            f'<text class="tick" x="{sx(t):.1f}" y="{height - 22}" text-anchor="middle">{t:.0f}</text>'
        )
    out.append(f'<text class="label" x="{_MARGIN_L + inner_w / 2}" y="{height - 4}" text-anchor="middle">')
    out.append(f"{escape(x_label)}</text>")
    out.append(
        f'<text class="label" transform="translate(14 {_MARGIN_T + inner_h / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    for i, s in enumerate(series):
        ordered = sorted(s.points, key=lambda p: p.x)
        if s.step and ordered:
            path = [f"M{sx(ordered[0].x):.1f},{sy(ordered[0].y):.1f}"]
            path += [f"H{sx(p.x):.1f}V{sy(p.y):.1f}" for p in ordered[1:]]
            path.append(f"H{sx(x1):.1f}")
            out.append(f'<path class="best-line" d="{" ".join(path)}" stroke="{s.colour}" fill="none"/>')
        out += [_dot(sx(p.x), sy(p.y), p, "point") for p in ordered]
        lx = _MARGIN_L + 10 + i * 170
        out.append(f'<rect x="{lx}" y="8" width="10" height="10" fill="{s.colour}"/>')
        out.append(f'<text class="legend" x="{lx + 14}" y="17">{escape(s.name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


class TreeNode(NamedTuple):
    """A node of the lineage tree as drawn: its parents, operator, validity, score and tooltip."""

    id: int
    parents: Sequence[int]
    operator: str
    valid: bool
    score: float | None
    highlight: bool = False


def _depths(nodes: Sequence[TreeNode]) -> dict[int, int]:
    """Depth = 1 + the deepest parent (drafts at 0); parents always have smaller ids than children."""
    depth: dict[int, int] = {}
    for n in sorted(nodes, key=lambda n: n.id):
        depth[n.id] = 1 + max((depth[p] for p in n.parents if p in depth), default=-1)
    return depth


def lineage_tree(nodes: Sequence[TreeNode], css_id: str) -> str:
    """The search's lineage: one row per depth, edges from parents to children, links to each node."""
    if not nodes:
        return f'<p class="empty" id="{css_id}">no node yet</p>'
    depth = _depths(nodes)
    rows: dict[int, list[TreeNode]] = {}
    for n in sorted(nodes, key=lambda n: n.id):
        rows.setdefault(depth[n.id], []).append(n)
    gap_x, gap_y, pad = 46, 70, 30
    width = max(400, pad * 2 + gap_x * max(len(r) for r in rows.values()))
    height = pad * 2 + gap_y * (max(rows) + 1)
    pos: dict[int, tuple[float, float]] = {}
    for d, row in rows.items():
        offset = (width - gap_x * (len(row) - 1)) / 2
        for i, n in enumerate(row):
            pos[n.id] = (offset + i * gap_x, pad + 10 + d * gap_y)
    out = [
        f'<svg id="{css_id}" class="tree" viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
    ]
    for n in nodes:
        for p in n.parents:
            if p in pos:
                (x1, y1), (x2, y2) = pos[p], pos[n.id]
                out.append(
                    f'<line class="edge edge-{n.operator}" x1="{x1:.1f}" y1="{y1:.1f}" '
                    f'x2="{x2:.1f}" y2="{y2:.1f}" stroke="{OPERATOR_COLOURS.get(n.operator, "#777")}"/>'
                )
    for n in nodes:
        x, y = pos[n.id]
        fill = OPERATOR_COLOURS.get(n.operator, "#777") if n.valid else INVALID_COLOUR
        score = "invalid" if not n.valid else ("-" if n.score is None else f"{n.score:.4g}")
        title = f"node {n.id} · {n.operator} · {score}" + (
            f" · parents {', '.join(map(str, n.parents))}" if n.parents else ""
        )
        ring = ' stroke="#d4202a" stroke-width="3"' if n.highlight else ' stroke="#333" stroke-width="1"'
        out.append(
            f'<a href="#node-{n.id}"><circle class="tree-node" cx="{x:.1f}" cy="{y:.1f}" r="12" '
            f'fill="{fill}"{ring}><title>{escape(title)}</title></circle>'
            f'<text class="node-id" x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle">{n.id}</text>'
            f'<text class="node-score" x="{x:.1f}" y="{y + 26:.1f}" text-anchor="middle">'
            f"{escape(score)}</text></a>"
        )
    out.append("</svg>")
    return "\n".join(out)


def dot_plot(groups: Sequence[tuple[str, Sequence[float]]], y_label: str, css_id: str) -> str:
    """Values per group (e.g. percentile rank per task, one dot per seed) on a 0-100 scale, with the mean."""
    if not groups:
        return f'<p class="empty" id="{css_id}">no run yet</p>'
    gap, height = 90, 300
    width = _MARGIN_L + _MARGIN_R + gap * len(groups)
    inner_h = height - _MARGIN_T - _MARGIN_B - 40

    def sy(v: float) -> float:
        return _MARGIN_T + (1 - v / 100) * inner_h

    out = [
        f'<svg id="{css_id}" class="plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
    ]
    for t in (0, 25, 50, 75, 100):
        out.append(
            f'<line class="grid" x1="{_MARGIN_L}" x2="{width - _MARGIN_R}" '
            f'y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>'
        )
        out.append(f'<text class="tick" x="{_MARGIN_L - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{t}</text>')
    out.append(
        f'<text class="label" transform="translate(14 {_MARGIN_T + inner_h / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    for i, (name, values) in enumerate(groups):
        cx = _MARGIN_L + gap * (i + 0.5)
        if values:
            mean = sum(values) / len(values)
            out.append(
                f'<rect class="bar" x="{cx - 20:.1f}" y="{sy(mean):.1f}" width="40" '
                f'height="{sy(0) - sy(mean):.1f}"><title>{escape(name)}: mean {mean:.1f}</title></rect>'
            )
        for v in values:
            out.append(
                f'<circle class="point" cx="{cx:.1f}" cy="{sy(v):.1f}" r="4" fill="#222">'
                f"<title>{escape(name)}: {v:.1f}</title></circle>"
            )
        out.append(
            f'<text class="tick" transform="translate({cx:.1f} {sy(0) + 12:.1f}) rotate(30)">'
            f"{escape(name)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)
