"""Speech: engines behind one Protocol, the clip cache, and the library that serves clips.

Kept free of heavy imports so the CLI starts instantly.
"""
