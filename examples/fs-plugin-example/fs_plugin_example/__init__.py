"""fs-plugin-example: a third-party fs pack with one model (``twin64``) and one loss
(``charbonnier``).

Nothing is registered on import; fs finds :mod:`fs_plugin_example.plugin` through the ``fs_core``
entry point in ``pyproject.toml`` and calls its hooks.
"""

__version__ = "0.1.0"
