"""Chisels: the plugin API (api.py), where they are found (loader.py) and how they run (runner.py)."""
