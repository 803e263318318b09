"""voiceguide: written routines turned into spoken, timed audio sessions."""

__version__ = "0.1.0"
