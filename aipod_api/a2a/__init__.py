"""A2A (Agent2Agent protocol v1.0) agent cards: the network's card and one per node."""
