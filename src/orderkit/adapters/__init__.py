"""Reference implementations of the ports in :mod:`orderkit.ports`.

Each adapter family is importable on its own (``orderkit.adapters.memory``,
``orderkit.adapters.sqlite``); the core never imports them.
"""
