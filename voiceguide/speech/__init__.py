"""Speech: the engine interface (base), the clip cache (cache), the system voice (system).

Kept free of heavy imports so the CLI starts instantly.
"""

DEFAULT_RATE_WPM = 150  # calm, unhurried speech
