"""use_papa: processes and sockets held by the papa kernel, so circusd can restart.

``names`` spells papa's names, ``kernel`` talks to papa (off the event loop),
``pump`` reads every watch connection in one thread, ``process`` is a process
papa started, ``watching`` ties one watcher to papa and ``host`` is the
arbiter's side (discovery, outages, quit).
"""
