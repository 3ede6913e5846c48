"""Layer 6, the arbiter's ZeroMQ and UDP channels (private).

``controller`` (the control channel: ROUTER to the command dispatcher),
``publisher`` (the event channel: PUB), ``multicast`` (UDP discovery) and
``channels`` (opens and closes the three around the watchers' life).
"""
