"""Dash apps for plant managers, engineers and industry associations."""
