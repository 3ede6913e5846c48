"""Layer 0, the vocabulary every other layer shares (private).

``protocol`` (the wire's constants and formats), ``states`` (the state enums
and legal process moves), ``parsers`` (option value parsers) and ``events``
(the in-process event bus). These modules import nothing of circus but
:mod:`circus.errors`; the layer order is in the circus-core README.
"""
