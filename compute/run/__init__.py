"""Runs: one gene end to end (gene), where genes run (backends), a whole store (pipeline)."""
