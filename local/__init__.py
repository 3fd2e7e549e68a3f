"""Local mode: the whole loop on one machine (train, pack, serve behind a front door, call through the client)."""
