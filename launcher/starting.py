"""Start-up failures: one message that names the part that failed (Ray, the policy server, an actor).

Each part of a launch is started inside `starting(part)`; whatever it raises becomes a StartError
that says which part it was, its own error's message (for an actor, the error raised in its
constructor, not Ray's wrapping of it) and what to do.
"""

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["StartError", "cause", "starting"]


class StartError(Exception):
    """A part of the launch failed to start; the message names the part and its error."""


def cause(error: BaseException) -> str:
    """`Type: message` of what went wrong: for an actor whose constructor raised, that error's own line
    rather than Ray's traceback around it."""
    inner = getattr(error, "cause", None)  # Ray keeps the constructor's own exception here
    if isinstance(inner, BaseException) and inner is not error:
        return cause(inner)
    text = str(error).strip()
    if type(error).__module__.startswith("ray."):
        # Ray's RayActorError and RayTaskError end their text with the original `Type: message` line.
        for line in reversed([line.strip() for line in text.splitlines()]):
            head, _, message = line.partition(":")
            name = head.rsplit(".", 1)[-1]  # `package.module.SomeError`
            if all(p.isidentifier() for p in head.split(".")) and name.endswith(("Error", "Exception")):
                return f"{name}:{message}"
        text = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {text or 'no message'}"


@contextmanager
def starting(part: str, fix: str = "") -> Iterator[None]:
    """Turn any error raised while `part` starts into one StartError naming it (and `fix`, if any)."""
    try:
        yield
    except StartError:
        raise
    except Exception as e:
        hint = f"; {fix}" if fix else ""
        raise StartError(f"{part} failed to start: {cause(e)}{hint}") from e
