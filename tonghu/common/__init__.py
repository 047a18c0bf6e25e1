"""Contracts shared by the edge and the platform: the canonical sample, topics and the uplink codec."""
