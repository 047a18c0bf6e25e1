"""Simulated equipment for the three sectors."""
