"""examday: exam-day network and load simulator.

Pipeline (DESIGN.md): scenario -> plan -> engine (model | live) -> trace -> analysis -> report.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
