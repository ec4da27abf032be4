"""Elastic-net paths by coordinate descent on a working set of SNVs, checked on all SNVs.

The model, penalty path, folds and choice of penalty are scikit-learn's ElasticNetCV
(objective 1/(2n) ||y - Xw||^2 + a l ||w||_1 + a (1 - l)/2 ||w||^2 with an intercept;
`n_alphas` penalties from the smallest that removes every SNV down to `eps` times it,
warm-started down the path; stop when a duality gap of the whole problem is at most
tol ||y||^2; the penalty of least mean test MSE is refitted on all rows); only the
work differs, in two exact ways:

- Working set: coordinate descent (scikit-learn's compiled one) sweeps only the SNVs
  that have been in the model or violated the KKT conditions at an earlier point of
  the path; after each solve the KKT conditions are checked on every SNV, violators
  join and the restricted problem is solved again. scikit-learn sweeps every SNV.
- Stopping certificate: scikit-learn stops on the duality gap at the rescaled
  residual (its formulation A), which near the optimum overstates the distance to
  it by two orders of magnitude on LD-rich dosages, so most of its sweeps only
  certify. Here the gap is also evaluated at the residual itself in the elastic
  net's other dual (formulation B of scikit-learn's _cd_fast), a valid and much
  tighter bound, so the same rule (gap <= tol ||y||^2) is met after far fewer sweeps.

The objective is strictly convex, so both reach points within the same certified
distance of the one minimiser; tests/test_elastic_net.py checks held-out r and the
chosen penalties against scikit-learn on simulated genes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


def alpha_grid(Xty: np.ndarray, n: int, l1_ratio: float, eps: float, n_alphas: int) -> np.ndarray:
    """scikit-learn's penalty path from X_c' y_c (centred): alpha_max down to eps alpha_max."""
    alpha_max = np.max(np.abs(Xty)) / (n * l1_ratio)
    if alpha_max <= np.finfo(np.float64).resolution:
        return np.full(n_alphas, np.finfo(np.float64).resolution)
    return np.geomspace(alpha_max, alpha_max * eps, num=n_alphas)


class CentredDesign:
    """One training part: its dosages (SNVs x people), column means and centred column norms."""

    def __init__(self, XT: np.ndarray, y: np.ndarray) -> None:
        # SNV-major (the transpose of people x SNVs) so that a set of SNVs is a block of rows
        self.XT = np.ascontiguousarray(XT, dtype=np.float64)
        self.n = self.XT.shape[1]
        self.mean = self.XT.mean(axis=1)
        self.y_mean = float(np.mean(y))
        self.y = np.asarray(y, dtype=np.float64) - self.y_mean
        # the working set grows down the path: its centred columns, in the order they joined,
        # fill a Fortran-ordered buffer whose leading block is what the compiled solver sweeps
        self.working = np.empty(0, dtype=np.intp)
        self._columns = np.empty((self.n, self.XT.shape[0]), order="F")

    def extend_working_set(self, idx: np.ndarray) -> np.ndarray:
        """Add SNVs idx (not yet in it) to the working set; its centred columns, people x set size."""
        k = self.working.size
        self._columns[:, k : k + idx.size] = (self.XT[idx] - self.mean[idx, None]).T
        self.working = np.concatenate([self.working, idx])
        return self._columns[:, : self.working.size]

    def t_dot(self, r: np.ndarray) -> np.ndarray:
        """X_c' r with X_c the centred people x SNVs matrix."""
        return self.XT @ r - self.mean * r.sum()

    def columns(self, idx: np.ndarray) -> np.ndarray:
        """Centred columns idx, people x len(idx), Fortran order (the compiled solver's layout)."""
        return (self.XT[idx] - self.mean[idx, None]).T


def duality_gap(
    y: np.ndarray, w: np.ndarray, resid: np.ndarray, xtr: np.ndarray, l1: float, l2: float
) -> float:
    """The smaller of the two duality gaps of scikit-learn's _cd_fast at the dual point from R.

    Primal P(w) = 1/2 ||R||^2 + l1 ||w||_1 + l2/2 ||w||^2 with R = y - X w, xtr = X'R.
    Formulation A (scikit-learn's stop, gap_enet): s = min(1, l1 / ||X'R - l2 w||_inf),
    D = -1/2 s^2 (||R||^2 + l2 ||w||^2) + s y'R. Formulation B (l2 > 0), at v = R with
    no rescaling: D = -1/2 ||R||^2 + y'R - 1/(2 l2) sum_j (|X_j'R| - l1)_+^2. Both bound
    P(w) - min P from above; B is the far tighter one near the optimum.
    """
    r2 = resid @ resid
    w2 = w @ w
    primal = 0.5 * (r2 + l2 * w2) + l1 * np.abs(w).sum()
    ry = resid @ y
    dual_norm = np.max(np.abs(xtr - l2 * w)) if w.size else 0.0
    scale = l1 / dual_norm if dual_norm > l1 else 1.0
    gap = primal - (-0.5 * scale**2 * (r2 + l2 * w2) + scale * ry)
    if l2 > 0:
        excess = np.maximum(np.abs(xtr) - l1, 0.0)
        gap = min(gap, primal - (-0.5 * r2 + ry - (excess @ excess) / (2 * l2)))
    return gap


def enet_solve(
    design: CentredDesign,
    w: np.ndarray,
    alpha: float,
    l1_ratio: float,
    tol: float,
    max_iter: int,
    sweeps: int = 5,
    resid: np.ndarray | None = None,
    xtr: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients at one penalty from the warm start `w` (changed in place), with R and X_c'R.

    `resid` and `xtr` are y_c - X_c w and X_c' resid for the warm start when known (the
    previous penalty's result), else computed here.
    """
    # scikit-learn loads in about a second: only when an elastic net is fitted (compute/baselines.py)
    from sklearn.exceptions import ConvergenceWarning

    n = design.n
    l1 = alpha * l1_ratio * n
    l2 = alpha * (1.0 - l1_ratio) * n
    y = design.y
    tol_abs = tol * (y @ y)
    active = np.flatnonzero(w)
    if resid is None or xtr is None:
        resid = y - design.columns(active) @ w[active] if active.size else y.copy()
        xtr = design.t_dot(resid)
    if duality_gap(y, w, resid, xtr, l1, l2) <= tol_abs:
        return w, resid, xtr
    rng = np.random.RandomState(0)  # only read by the solver's random selection, which is off
    with warnings.catch_warnings():
        # each call runs a few sweeps and warns that it stopped before its own (formulation A) stop
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _solve_working_set(design, w, xtr, l1, l2, tol, tol_abs, max_iter, sweeps, rng)


def _solve_working_set(
    design: CentredDesign,
    w: np.ndarray,
    xtr: np.ndarray,
    l1: float,
    l2: float,
    tol: float,
    tol_abs: float,
    max_iter: int,
    sweeps: int,
    rng: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve on the working set, check KKT on every SNV, grow the set by the violators, repeat.

    SNVs outside the working set have zero coefficients; the whole problem's gap is the
    restricted problem's plus the outside SNVs' KKT violations, so no violator means
    the restricted stop holds for the whole problem.
    """
    from sklearn.linear_model import _cd_fast

    y = design.y
    done = 0
    outside = np.ones(w.size, dtype=bool)
    outside[design.working] = False
    # a warm start's nonzero coefficients outside the set (a new design) join it too
    violators = np.flatnonzero(outside & ((np.abs(xtr) > l1) | (w != 0)))
    Xw = design.extend_working_set(violators)
    while True:
        outside[violators] = False
        sub = np.ascontiguousarray(w[design.working])
        while True:
            # a few sweeps of scikit-learn's coordinate descent (its own stop: formulation A)
            sub, gap_a, _, n_iter = _cd_fast.enet_coordinate_descent(
                sub, l1, l2, Xw, y, sweeps, tol, rng, 0, 0, 0
            )
            done += n_iter
            resid = y - Xw @ sub
            if gap_a <= tol_abs or done >= max_iter:
                break
            if duality_gap(y, sub, resid, resid @ Xw, l1, l2) <= tol_abs:
                break
        w[design.working] = sub
        xtr = design.t_dot(resid)
        violators = np.flatnonzero(outside & (np.abs(xtr) > l1))
        if violators.size == 0 or done >= max_iter:
            return w, resid, xtr
        Xw = design.extend_working_set(violators)


def enet_path_mse(
    train: CentredDesign,
    XT_test: np.ndarray,
    y_test: np.ndarray,
    alphas: np.ndarray,
    l1_ratio: float,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    """Mean squared error on the test rows of each fit along the path (warm starts down the path)."""
    w = np.zeros(train.XT.shape[0])
    mse = np.empty(len(alphas))
    resid = xtr = None
    for k, alpha in enumerate(alphas):
        w, resid, xtr = enet_solve(train, w, alpha, l1_ratio, tol, max_iter, resid=resid, xtr=xtr)
        nz = np.flatnonzero(w)
        pred = w[nz] @ XT_test[nz] + (train.y_mean - train.mean[nz] @ w[nz])
        mse[k] = np.mean((y_test - pred) ** 2)
    return mse


@dataclass(frozen=True)
class CVFit:
    """An elastic net whose penalty was chosen by K-fold cross-validation, refitted on all rows."""

    coef: np.ndarray  # (n_snvs,)
    intercept: float
    alpha: float  # the chosen penalty
    alphas: np.ndarray  # the path

    def predict(self, XT: np.ndarray) -> np.ndarray:
        """Predictions for people given as SNVs x people."""
        nz = np.flatnonzero(self.coef)
        return self.coef[nz] @ XT[nz] + self.intercept


def elastic_net_cv(
    XT: np.ndarray,
    y: np.ndarray,
    folds: int,
    seed: int,
    l1_ratio: float,
    n_alphas: int,
    eps: float,
    tol: float,
    max_iter: int,
) -> CVFit:
    """ElasticNetCV(l1_ratio, alphas=n_alphas, eps, cv=KFold(folds, shuffle=True, random_state=seed), tol,
    max_iter).fit(X, y) with X = XT.T: the same path, folds, choice (least mean test MSE) and refit."""
    from sklearn.model_selection import KFold

    y = np.asarray(y, dtype=np.float64)
    whole = CentredDesign(XT, y)
    alphas = alpha_grid(whole.t_dot(whole.y), whole.n, l1_ratio, eps, n_alphas)
    mse = np.zeros(len(alphas))
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(y):
        part = CentredDesign(whole.XT[:, train], y[train])
        mse += enet_path_mse(part, whole.XT[:, test], y[test], alphas, l1_ratio, tol, max_iter)
    best = float(alphas[np.argmin(mse / folds)])
    coef, _, _ = enet_solve(whole, np.zeros(whole.XT.shape[0]), best, l1_ratio, tol, max_iter)
    return CVFit(coef=coef, intercept=whole.y_mean - float(whole.mean @ coef), alpha=best, alphas=alphas)
