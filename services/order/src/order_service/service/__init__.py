"""Order use cases: placing, the saga's reactions, queries, carts and the price read model."""
