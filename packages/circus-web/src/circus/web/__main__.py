"""``python -m circus.web``: the same as ``circushttpd``."""

from circus.web import main

main()
