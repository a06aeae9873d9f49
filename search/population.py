"""The population of scored nodes, ordered by D_search fitness."""

from search.node import Node


class Population:
    """All finished nodes of a run; fitness is the search score oriented so higher is better."""

    def __init__(self, lower_is_better: bool) -> None:
        self.lower_is_better = lower_is_better
        self.nodes: dict[int, Node] = {}
        self.version = 0  # bumped by every add: what selection may cache against
        self._valid: list[Node] | None = None

    def add(self, node: Node) -> None:
        self.nodes[node.id] = node
        self.version += 1
        self._valid = None

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def valid(self) -> list[Node]:
        """Valid nodes in id order (a copy; sorted once per change, not at every dispatch)."""
        if self._valid is None:
            self._valid = [n for _, n in sorted(self.nodes.items()) if n.valid and n.search_score is not None]
        return list(self._valid)

    def fitness(self, node: Node) -> float:
        assert node.search_score is not None
        return -node.search_score if self.lower_is_better else node.search_score

    def best(self) -> Node | None:
        """The valid node with the best D_search score (earliest on ties)."""
        valid = self.valid
        return max(valid, key=lambda n: (self.fitness(n), -n.id)) if valid else None
