"""Layer 4, building an arbiter's parts from a loaded config (private).

``build`` turns a :class:`~circus.config.CircusConfig` into an arbiter
(the class is passed in: this layer sits below :mod:`circus.arbiter`);
``statsd`` builds the circusd-stats watcher that ``statsd = True`` adds.
"""
