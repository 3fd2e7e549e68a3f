"""Repository tools (generators run by `make`)."""
