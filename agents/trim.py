"""Trimming long tool output to what fits in the agent's context: the head and the tail."""


def cut_marker(cut: int) -> str:
    """The line that replaces the `cut` characters taken out of the middle."""
    return f"\n... [{cut} characters cut] ...\n"


def trim_middle(text: str, limit: int) -> str:
    """Return `text` if it fits in `limit` characters, else its head and tail around a cut marker.

    The result is at most `limit` characters long. The tail gets the larger half because errors and
    final results come last.
    """
    if len(text) <= limit:
        return text
    # Size the marker for the largest possible cut: the real cut is smaller, so the result fits.
    keep = limit - len(cut_marker(len(text)))
    if keep <= 0:
        return text[:limit]
    head = keep // 2
    tail = keep - head
    return text[:head] + cut_marker(len(text) - keep) + text[len(text) - tail :]
