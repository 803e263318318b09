"""The built-in routines, as routine files."""
