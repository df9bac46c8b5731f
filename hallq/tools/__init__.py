"""Operators' and maintainers' tools: the ``hallq`` command, ``ctl``, reports, bundles, the
embedded broker."""
