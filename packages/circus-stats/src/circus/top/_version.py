"""The circus-stats version circus-top reports."""

__version__ = "0.1.0"
