"""The population of scored nodes, ordered by D_search fitness."""

from search.node import Node


class Population:
    """All finished nodes of a run; fitness is the search score oriented so higher is better."""

    def __init__(self, lower_is_better: bool) -> None:
        self.lower_is_better = lower_is_better
        self.nodes: dict[int, Node] = {}

    def add(self, node: Node) -> None:
        self.nodes[node.id] = node

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def valid(self) -> list[Node]:
        """Valid nodes in id order."""
        return [n for _, n in sorted(self.nodes.items()) if n.valid and n.search_score is not None]

    def fitness(self, node: Node) -> float:
        assert node.search_score is not None
        return -node.search_score if self.lower_is_better else node.search_score

    def best(self) -> Node | None:
        """The valid node with the best D_search score (earliest on ties)."""
        valid = self.valid
        return max(valid, key=lambda n: (self.fitness(n), -n.id)) if valid else None
