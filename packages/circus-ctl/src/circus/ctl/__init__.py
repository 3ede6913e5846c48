"""The internals of ``circusctl``: command declarations, parsing, console output, shell.

Nothing here is public API; use :mod:`circus.client` from programs.
"""

__version__ = "0.1.0"
