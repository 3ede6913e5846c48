"""``python -m circus.stats``: the same as the ``circusd-stats`` command."""

from circus.stats import main

main()
