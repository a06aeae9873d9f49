"""The shell of a self-contained report page: inline style and script, nothing fetched from elsewhere."""

from collections.abc import Sequence
from html import escape

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
body { padding: 0 12px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f4f4f4; cursor: pointer; text-align: left; } td.num { text-align: right; }
tr.invalid td { color: #888; } tr.final td { background: #fff3d6; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; max-height: 480px; white-space: pre-wrap; }
.scroll { overflow-x: auto; border: 1px solid #eee; }
svg .frame { fill: none; stroke: #ccc; } svg .grid { stroke: #eee; }
svg .tick, svg .legend { font-size: 11px; fill: #555; } svg .label { font-size: 12px; fill: #333; }
svg .best-line { stroke-width: 2; } svg .edge { stroke-width: 1.5; opacity: 0.7; }
svg .node-id { font-size: 10px; fill: #fff; pointer-events: none; }
svg .node-score { font-size: 9px; fill: #444; }
svg .bar { fill: #c9d8f5; }
.step { border-left: 3px solid #3b6fd4; margin: 8px 0; padding-left: 8px; }
.step.error { border-color: #d4202a; } .meta { color: #666; font-size: 12px; }
.keys span { margin-right: 14px; } .swatch { display: inline-block; width: 10px; height: 10px; }
"""

# Sorts a table by the clicked column (numbers as numbers) and opens a node's details when its
# anchor is followed, so a click in the tree or a plot lands on the open trajectory.
_SCRIPT = """
(function () {
  function cellValue(row, i) {
    var text = row.cells[i].getAttribute('data-sort') || row.cells[i].textContent;
    var n = parseFloat(text);
    return isNaN(n) ? text : n;
  }
  document.querySelectorAll('table.sortable th').forEach(function (th, i) {
    th.addEventListener('click', function () {
      var body = th.closest('table').tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var up = th.getAttribute('data-dir') !== 'up';
      th.setAttribute('data-dir', up ? 'up' : 'down');
      rows.sort(function (a, b) {
        var x = cellValue(a, i), y = cellValue(b, i);
        return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (target) { target.querySelectorAll('details').forEach(function (d) { d.open = true; }); }
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();
})();
"""


def page(title: str, body: Sequence[str]) -> str:
    """A whole HTML document: the body's fragments, inline style and script; opens offline."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
            *body,
            f"<script>{_SCRIPT}</script>",
            "</body></html>",
        ]
    )


def table(headers: Sequence[str], rows: Sequence[tuple[Sequence[str], str]], css_id: str) -> str:
    """A sortable table; each row is (cells as HTML, the row's class). Cells are already escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f'<tr class="{cls}">' + "".join(cells) + "</tr>" for cells, cls in rows)
    return (
        f'<table class="sortable" id="{css_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def cell(value: str | float | int | None, href: str | None = None) -> str:
    """One table cell: numbers right-aligned (shown to 6 significant digits), None as '-'."""
    if value is None:
        return '<td class="num" data-sort="">-</td>'
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = escape(str(value))
        inner = f'<a href="{escape(href)}">{text}</a>' if href else text
        return f"<td>{inner}</td>"
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    inner = f'<a href="{escape(href)}">{text}</a>' if href else text
    return f'<td class="num" data-sort="{value}">{inner}</td>'


def clipped(text: str, limit: int) -> str:
    """`text` escaped, cut to `limit` characters with a note of how much was left out."""
    if len(text) <= limit:
        return escape(text)
    return escape(text[:limit]) + f"\n… ({len(text) - limit:,} more characters in the file)"
