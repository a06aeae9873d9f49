"""The population of scored nodes, ordered by D_search fitness."""

from bisect import insort

from search.node import Node


class Population:
    """All finished nodes of a run; fitness is the search score oriented so higher is better.

    The valid nodes (in id order) and the best one are kept up to date at each `add`, not rebuilt
    from all nodes: at 64 workers a node is added every few milliseconds, and rebuilding them for each
    was the coordinator's largest cost once the population held a thousand nodes.
    """

    def __init__(self, lower_is_better: bool) -> None:
        self.lower_is_better = lower_is_better
        self.nodes: dict[int, Node] = {}
        self.version = 0  # bumped by every add: what selection may cache against
        self._valid: list[Node] = []
        self._best: Node | None = None

    def add(self, node: Node) -> None:
        replaced = node.id in self.nodes
        self.nodes[node.id] = node
        self.version += 1
        if replaced:  # a node recorded again (never in a healthy run): rebuild from all nodes
            self._valid = [n for _, n in sorted(self.nodes.items()) if self._counts(n)]
            self._best = max(self._valid, key=self._order, default=None)
        elif self._counts(node):
            insort(self._valid, node, key=lambda n: n.id)
            if self._best is None or self._order(node) > self._order(self._best):
                self._best = node

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def valid(self) -> list[Node]:
        """Valid nodes in id order (a copy)."""
        return list(self._valid)

    def fitness(self, node: Node) -> float:
        assert node.search_score is not None
        return -node.search_score if self.lower_is_better else node.search_score

    def best(self) -> Node | None:
        """The valid node with the best D_search score (earliest on ties)."""
        return self._best

    @staticmethod
    def _counts(node: Node) -> bool:
        return node.valid and node.search_score is not None

    def _order(self, node: Node) -> tuple[float, int]:
        return (self.fitness(node), -node.id)
