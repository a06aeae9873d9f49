"""The search budget: wall clock and number of nodes."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    started_at: float
    wall_clock_s: float
    max_nodes: int
    grace_s: float

    @property
    def deadline(self) -> float:
        return self.started_at + self.wall_clock_s

    def allows_dispatch(self, dispatched: int, now: float) -> bool:
        """Whether a new job may start: nodes left and time left."""
        return dispatched < self.max_nodes and now < self.deadline
