"""The built-in platform maps, one module per platform, each a ``platform_map()``.

They are data (:class:`~orderkit.mapping.spec.PlatformMap` values) read by the same
engine as any map an integrator writes; :func:`orderkit.mapping.registry.builtin_maps`
lists them by name. The folder is ``maps`` rather than ``platforms`` because
``orderkit.mapping.platforms`` is the function that lists registered platform names.
"""
