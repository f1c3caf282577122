"""matplotlib for the report, imported without its 3-D toolkit: ``Figure`` and the Agg canvas.

``matplotlib.projections`` imports ``mpl_toolkits.mplot3d`` (art3d, axes3d,
axis3d: ~0.1 s, a tenth of matplotlib's import) only to register the "3d"
projection, which no report plot uses. It is imported here with that module
blocked, the warning matplotlib gives for a missing toolkit silenced, and the
block lifted afterwards (``import mpl_toolkits.mplot3d`` works again; only
``projection="3d"`` is not registered).
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["Figure", "FigureCanvasAgg"]

_BLOCKED = "mpl_toolkits.mplot3d"

if "matplotlib.projections" not in sys.modules and _BLOCKED not in sys.modules:
    sys.modules[_BLOCKED] = None  # type: ignore[assignment]  # import of it raises ImportError
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unable to import Axes3D")
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.projections  # noqa: F401
    finally:
        del sys.modules[_BLOCKED]

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
