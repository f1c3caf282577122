"""What a device process asks the engine for (``procs`` yields these; ``engine.Simulation.resume`` matches them).

A plain ``float`` means "resume me at this absolute time" (the hot path:
most yields are sleeps). Every other request is a typed command.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Bulk", "Serve", "AwaitSession"]


@dataclass(frozen=True, slots=True)
class Bulk:
    """A TCP transfer through the fluid network; resumes with its completion time."""

    room: int
    cls: int  # the station's radio class (``topology.RadioClass``)
    bits: float
    connections: float = 1.0  # parallel connections: weight and initial window multiple
    up: bool = False  # the station sends (autosave, submit, upload) over the up tree
    device: int = -1  # the station's device index when both directions may overlap (bare transfers), else -1


@dataclass(frozen=True, slots=True)
class Serve:
    """A job for a processor-sharing station; resumes with its end time (None when refused)."""

    role: str
    work: float


@dataclass(frozen=True, slots=True)
class AwaitSession:
    """Wait until the room's teacher opened the test session; resumes with the open time (None: never)."""

    room: int
