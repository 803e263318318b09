"""Sinks: where a session goes. The player, the exporter, and what they need."""
