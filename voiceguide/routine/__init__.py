"""Routines: the model, the file format, article import and the routine library."""
