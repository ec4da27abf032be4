"""What each supported sequence model is, read without loading it (torch-free): its input window,
output bins and default track. The command line, the settings and the engine take these numbers
from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelCard:
    name: str
    window: int  # bp of input
    bin_size: int  # bp per output bin
    n_tracks: int  # human output tracks
    default_track: int
    default_track_label: str


# The paper's model and track: 'CAGE:brain, adult' is row 4980 of GTExWeights.csv (Enformer's human
# tracks in output order).
ENFORMER = ModelCard("enformer", 196_608, 128, 5_313, 4980, "CAGE:brain, adult")
