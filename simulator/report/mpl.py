"""matplotlib for the report (Agg canvas), imported without building its artists' property docstrings.

When matplotlib defines an ``Artist`` subclass it writes the class's ``set()``
docstring, a list of every property read off the setters' docstrings
(``matplotlib.artist.kwdoc``: ~4,500 ``inspect.getdoc`` calls for the classes
the report imports), and the ``%(Line2D:kwdoc)s`` substitutions in the plotting
methods' docstrings do the same: ~0.1 s of the report's ~0.35 s matplotlib
import, for text only ``help()`` shows. Importing this module imports the
matplotlib modules the report draws with while ``kwdoc`` answers "", then puts
``kwdoc`` back: classes defined later document themselves as usual, and a
process that had imported matplotlib already is left as it was. The figures
are the same (nothing drawn depends on a docstring).
"""

from __future__ import annotations

import sys

if "matplotlib.figure" not in sys.modules:
    import matplotlib.artist as _artist

    _kwdoc = getattr(_artist, "kwdoc", None)
    _artist.kwdoc = lambda artist: ""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.collections  # noqa: F401
        import matplotlib.colorbar  # noqa: F401
        import matplotlib.figure  # noqa: F401
        import matplotlib.legend  # noqa: F401
        import matplotlib.ticker  # noqa: F401
    finally:
        if _kwdoc is None:
            del _artist.kwdoc
        else:
            _artist.kwdoc = _kwdoc
