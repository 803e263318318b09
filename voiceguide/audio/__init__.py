"""Audio: format, levels, clip analysis, the mix planner, music beds and the renderer."""
