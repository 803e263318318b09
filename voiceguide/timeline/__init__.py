"""The pure compiler: a routine and a variant become a timed Timeline (no I/O)."""
