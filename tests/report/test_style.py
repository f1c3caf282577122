"""``report.style.InView``: fewer tick objects, the same picture."""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from simulator.report.style import InView


def _render(clip: bool) -> tuple[np.ndarray, int, int]:
    f = Figure(figsize=(4, 3), dpi=100)
    FigureCanvasAgg(f)
    ax = f.add_subplot()
    ax.plot([3, 47], [0.02, 300])
    ax.set_xlim(3, 47)
    ax.set_yscale("log")
    ax.set_ylim(0.02, 300)
    ax.xaxis.set_major_locator(InView(MultipleLocator(10)) if clip else MultipleLocator(10))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"t{x:g}"))
    if clip:
        ax.yaxis.set_major_locator(InView(ax.yaxis.get_major_locator()))
        ax.yaxis.set_minor_locator(InView(ax.yaxis.get_minor_locator()))
    f.canvas.draw()
    ticks = len(ax.xaxis.majorTicks) + len(ax.yaxis.majorTicks) + len(ax.yaxis.minorTicks)
    return np.asarray(f.canvas.buffer_rgba()).copy(), ticks, len(ax.xaxis.get_majorticklocs())


def test_in_view_ticks_draw_the_same_pixels_with_fewer_tick_objects():
    plain, plain_ticks, _ = _render(clip=False)
    clipped, clipped_ticks, x_locs = _render(clip=True)
    assert np.array_equal(plain, clipped)
    assert x_locs == 4  # 10, 20, 30, 40: not 0 and 50 outside [3, 47]
    assert clipped_ticks < plain_ticks
