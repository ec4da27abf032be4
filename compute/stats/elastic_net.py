"""Elastic-net paths by coordinate descent on a working set of SNVs, checked on all SNVs.

The model, penalty path, folds and choice of penalty are scikit-learn's ElasticNetCV
(objective 1/(2n) ||y - Xw||^2 + a l ||w||_1 + a (1 - l)/2 ||w||^2 with an intercept;
`n_alphas` penalties from the smallest that removes every SNV down to `eps` times it,
warm-started down the path; stop when a duality gap of the whole problem is at most
tol ||y||^2; the penalty of least mean test MSE is refitted on all rows); only the
work differs, in two exact ways:

- Working set: coordinate descent (scikit-learn's compiled one, through its public
  `sklearn.linear_model.enet_path` with one penalty and a warm start) sweeps only the SNVs
  that have been in the model or violated the KKT conditions at an earlier point of
  the path; after each solve the KKT conditions are checked on every SNV, violators
  join and the restricted problem is solved again. scikit-learn sweeps every SNV.
- Stopping certificate: scikit-learn stops on the duality gap at the rescaled
  residual (its formulation A), which near the optimum overstates the distance to
  it by two orders of magnitude on LD-rich dosages, so most of its sweeps only
  certify. Here the gap is also evaluated at the residual itself in the elastic
  net's other dual (formulation B of scikit-learn's coordinate descent), a valid and much
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
    """One training part: its centred dosages, SNV-major, with the working set as leading rows.

    XT[i] is SNV order[i] minus its mean over these people. The SNVs of the working
    set occupy rows [0, size): XT[:size].T is then a people x size Fortran-ordered
    matrix, the compiled solver's layout, with no copy; a SNV joins by swapping rows.
    Coefficients, X'R and the like of this design are in its row order.
    """

    def __init__(self, XT: np.ndarray, y: np.ndarray, copy: bool = True) -> None:
        # centred in place below: copy=False hands over a float64 C-ordered array no one else uses
        XT = np.array(XT, dtype=np.float64, order="C", copy=True if copy else None)
        self.mean = XT.mean(axis=1)  # per SNV, in the original order
        XT -= self.mean[:, None]
        self.XT = XT
        self.n = XT.shape[1]
        self.order = np.arange(XT.shape[0])
        self.size = 0
        self.y_mean = float(np.mean(y))
        self.y = np.asarray(y, dtype=np.float64) - self.y_mean

    def grow(self, rows: np.ndarray, *per_snv: np.ndarray) -> None:
        """Move rows (all >= size) into the working set, swapping the same entries of per_snv."""
        targets = np.arange(self.size, self.size + rows.size)
        leaving = np.setdiff1d(targets, rows, assume_unique=True)  # rows of targets not joining
        joining = np.setdiff1d(rows, targets, assume_unique=True)  # joining rows beyond targets
        for a in (self.XT, self.order, *per_snv):
            a[leaving], a[joining] = a[joining], a[leaving].copy()
        self.size += rows.size

    def working(self) -> np.ndarray:
        """The working set's centred columns, people x size, Fortran order (a view)."""
        return self.XT[: self.size].T

    def in_original_order(self, w: np.ndarray) -> np.ndarray:
        """Coefficients in the design's row order -> in the original SNV order."""
        out = np.empty_like(w)
        out[self.order] = w
        return out


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
    """Coefficients at one penalty from the warm start `w`, with R = y_c - X_c w and X_c'R.

    w, xtr: in the design's row order; w and xtr are changed in place (rows may be
    reordered as SNVs join the working set). `resid` and `xtr` are those of the warm
    start when known (the previous penalty's result), else computed here.
    """
    # scikit-learn loads in about a second: only when an elastic net is fitted (compute/stats/baselines.py)
    from sklearn import config_context
    from sklearn.exceptions import ConvergenceWarning

    n = design.n
    l1 = alpha * l1_ratio * n
    l2 = alpha * (1.0 - l1_ratio) * n
    y = design.y
    tol_abs = tol * (y @ y)
    if resid is None or xtr is None:
        active = np.flatnonzero(w)
        resid = y - w[active] @ design.XT[active]
        xtr = design.XT @ resid
    if duality_gap(y, w, resid, xtr, l1, l2) <= tol_abs:
        return w, resid, xtr
    # the inputs are ours and already checked: scikit-learn's per-call parameter validation
    # (about a quarter of the time at 839 x 3,000) is skipped through its public config
    with warnings.catch_warnings(), config_context(skip_parameter_validation=True):
        # each call runs a few sweeps and warns that it stopped before its own (formulation A) stop
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _solve_working_set(design, w, xtr, alpha, l1_ratio, tol_abs, max_iter, sweeps)


def _solve_working_set(
    design: CentredDesign,
    w: np.ndarray,
    xtr: np.ndarray,
    alpha: float,
    l1_ratio: float,
    tol_abs: float,
    max_iter: int,
    sweeps: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve on the working set, check KKT on every SNV, grow the set by the violators, repeat.

    SNVs outside the working set have zero coefficients; the whole problem's gap is the
    restricted problem's plus the outside SNVs' KKT violations, so no violator means
    the restricted stop holds for the whole problem.
    """
    from sklearn.linear_model import enet_path

    y = design.y
    l1 = alpha * l1_ratio * design.n  # the n-scaled penalties of the gap and KKT checks
    l2 = alpha * (1.0 - l1_ratio) * design.n
    done = 0
    k = design.size
    # a warm start's nonzero coefficients outside the set (a new design) join it too
    joining = k + np.flatnonzero((np.abs(xtr[k:]) > l1) | (w[k:] != 0))
    while True:
        design.grow(joining, w, xtr)
        k = design.size
        Xw = design.working()
        sub = w[:k].copy()
        while True:
            # a few sweeps of scikit-learn's coordinate descent (its own stop: formulation A),
            # through its public path function with one penalty and the warm start
            _, coefs, gaps, n_iter = enet_path(
                Xw, y, l1_ratio=l1_ratio, alphas=[alpha], coef_init=sub, precompute=False,
                check_input=False, return_n_iter=True, max_iter=sweeps, tol=tol_abs / (y @ y),
            )  # fmt: skip
            sub, gap_a = coefs[:, 0], gaps[0] * design.n  # enet_path reports the gap over n
            done += max(n_iter[0], 1)  # 0 when it found its own stop met on entry
            resid = y - Xw @ sub
            if gap_a <= tol_abs or done >= max_iter:
                break
            if duality_gap(y, sub, resid, design.XT[:k] @ resid, l1, l2) <= tol_abs:
                break
        w[:k] = sub
        xtr = design.XT @ resid
        joining = k + np.flatnonzero(np.abs(xtr[k:]) > l1)
        if joining.size == 0 or done >= max_iter:
            return w, resid, xtr


def enet_path_mse(
    train: CentredDesign,
    XT_test: np.ndarray,
    y_test: np.ndarray,
    alphas: np.ndarray,
    l1_ratio: float,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    """Mean squared error on the test people (SNVs x people, not centred) of each fit down the path."""
    w = np.zeros(train.XT.shape[0])
    mse = np.empty(len(alphas))
    resid = xtr = None
    for k, alpha in enumerate(alphas):
        w, resid, xtr = enet_solve(train, w, alpha, l1_ratio, tol, max_iter, resid=resid, xtr=xtr)
        nz = np.flatnonzero(w)
        snvs = train.order[nz]
        pred = w[nz] @ XT_test[snvs] + (train.y_mean - train.mean[snvs] @ w[nz])
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
    XT = np.ascontiguousarray(XT, dtype=np.float64)
    whole = CentredDesign(XT, y)
    alphas = alpha_grid(whole.XT @ whole.y, whole.n, l1_ratio, eps, n_alphas)
    mse = np.zeros(len(alphas))
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(y):
        part = CentredDesign(XT[:, train], y[train], copy=False)  # XT[:, train] is a fresh copy
        mse += enet_path_mse(part, XT[:, test], y[test], alphas, l1_ratio, tol, max_iter)
    best = float(alphas[np.argmin(mse / folds)])
    w, _, _ = enet_solve(whole, np.zeros(XT.shape[0]), best, l1_ratio, tol, max_iter)
    coef = whole.in_original_order(w)
    return CVFit(coef=coef, intercept=whole.y_mean - float(whole.mean @ coef), alpha=best, alphas=alphas)
