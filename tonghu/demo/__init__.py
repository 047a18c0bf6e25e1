"""The one-command demo of the whole platform (``tonghu demo``, ``make demo``)."""

from tonghu.demo.cli import demo

__all__ = ["demo"]
