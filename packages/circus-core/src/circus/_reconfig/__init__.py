"""Layer 4, changing a running arbiter's configuration (private).

``live_options`` (``set`` and ``add``), ``reload_config`` (``reloadconfig``:
the minimal diff) and ``reload_sockets`` (its ``[socket:NAME]`` part). The
arbiter is only a type here; :mod:`circus.arbiter` calls in.
"""
