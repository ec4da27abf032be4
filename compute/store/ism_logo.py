"""Letter heights of an ISM sequence logo from a store's `ism_logo` table rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

LETTERS = "ACGT"


def ism_logo_matrix(
    ism_per_position_base: np.ndarray,
    reference: np.ndarray | None = None,
    positions: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Letter heights (L rows, columns A, C, G, T; index = position) for a sequence logo of ISM.

    `ism_per_position_base[i, b]`: model output with base b at position i minus
    the reference output (0 at the reference base). With `reference` tokens the
    logo shows the reference base only, with height minus the mean effect of the
    three substitutions (how much the model relies on that base; negative when a
    change would raise the output). Without it each position is mean-centred over
    the four bases (the usual ISM logo when the reference is not at hand).
    """
    ism = np.asarray(ism_per_position_base, dtype=np.float64)
    if ism.ndim != 2 or ism.shape[1] != 4:
        raise ValueError(f"expected ISM of shape (length, 4), found {ism.shape}")
    index = pd.Index(np.arange(len(ism)) if positions is None else np.asarray(positions), name="position")
    if len(index) != len(ism):
        raise ValueError(f"{len(index)} positions for {len(ism)} ISM rows")
    if reference is None:
        heights = ism - ism.mean(axis=1, keepdims=True)
    else:
        reference = np.asarray(reference)
        if reference.shape != (len(ism),):
            raise ValueError(f"reference tokens must have shape ({len(ism)},), found {reference.shape}")
        heights = np.zeros_like(ism)
        known = reference < 4
        rows = np.flatnonzero(known)
        ref = reference[known].astype(np.intp)
        others = ism[rows].sum(axis=1) - ism[rows, ref]
        heights[rows, ref] = -others / 3
    return pd.DataFrame(heights, index=index, columns=list(LETTERS))
