"""Layer 8, what only the circusd command line needs (private).

``from_config`` (circusd's arbiter, built from its config file), ``pidfile``,
``logs`` (``--log-level``, ``--log-output``, ``loggerconfig``) and
``daemonize`` (``--daemon``), all used by :mod:`circus.circusd`.
"""
