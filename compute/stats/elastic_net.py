"""Elastic-net paths by coordinate descent on a working set of SNVs, checked on all SNVs.

The model, penalty path, folds and choice of penalty are scikit-learn's ElasticNetCV
(objective 1/(2n) ||y - Xw||^2 + a l ||w||_1 + a (1 - l)/2 ||w||^2 with an intercept;
`n_alphas` penalties from the smallest that removes every SNV down to `eps` times it,
warm-started down the path; the penalty of least mean test MSE is refitted on all
rows). Only the work differs:

- Working set: coordinate descent (scikit-learn's compiled one, through its public
  `sklearn.linear_model.enet_path` with one penalty and a warm start) sweeps only the
  SNVs of the last fit and its strongest KKT violators at the new penalty; SNVs the
  first sweeps leave at zero drop out; once the restricted problem is solved, the KKT
  conditions are checked on every SNV and violators join. scikit-learn sweeps every SNV.
- No copies of the folds: X'R over every SNV is one product of the shared dosages with R
  padded with zeros at the other people (after a small step, only for the SNVs whose
  bound |X_j'R0| + ||X_j|| ||R - R0|| reaches the penalty); only the SNVs that enter a
  fold's working set are gathered and centred, once (TrainingPart).
- Stopping certificate: the duality gap is also evaluated in the elastic net's other
  dual (formulation B of scikit-learn's coordinate descent, at the residual itself), a
  valid bound two orders of magnitude tighter near the optimum on LD-rich dosages than
  scikit-learn's (formulation A), so a given gap is certified after far fewer sweeps.
- Precision where the choice is made. scikit-learn stops at gap <= tol ||y||^2, but its
  gap overstates the distance and it also waits for the coefficients to settle, so its
  fits are much closer to the minimiser than that. Stopping every fit at gap
  tol ||y||^2 (the rule here until 2026-12) left a fold's test MSE off by up to a few per
  cent, enough to flip the choice between penalties whose mean MSE differ by 0.2%
  (held-out r then moved by 0.01). So all folds go down the path together, each fit
  stopped at gap <= tol ||y||^2; once the mean MSE has risen RISEN above its least, the
  smaller penalties (the expensive end of the path, far from the choice) stop at a gap
  looser in proportion to the rise (LOOSE times at a rise of RISEN). Then every penalty
  whose mean MSE is within MARGIN of the least (wider for the loose fits) is solved
  again in every fold, warm, to gap <= TIGHT tol ||y||^2, until that set is closed, and
  so is the refit. The choice and the refit are then those of the exact minimisers to
  well within scikit-learn's own error.

tests/test_elastic_net.py checks the chosen penalties fold by fold and held-out r
against scikit-learn on simulated genes.
"""

from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

# Refined before the choice: penalties whose mean test MSE is within MARGIN of the least (at gap
# tol ||y||^2 a fold's MSE near the least was off by up to 2% on simulated genes, the mean by less)
MARGIN = 0.05
TIGHT = 1e-3  # refined fits stop at gap <= TIGHT tol ||y||^2
# Once the mean MSE has risen by RISEN or more above its least, the next penalty stops at gap
# <= LOOSE (rise / RISEN) tol ||y||^2. Such a fit's mean MSE was within 8% of the exact one's at
# LOOSE times, 30% at 10 LOOSE times (the error grows as the root of the gap) on simulated genes:
# it is refined within LOOSE_MARGIN sqrt(its looseness / LOOSE) of the least.
RISEN = 0.1
LOOSE = 10.0
LOOSE_MARGIN = 0.2
SEED = 1.5  # SNVs with |X_j'R| > SEED l1 at the last fit join the working set at the next penalty
FIRST = 2  # coordinate-descent sweeps before the SNVs left at zero leave the working set
SWEEPS = 4  # sweeps per call of the compiled solver afterwards, between two gap checks


def alpha_grid(Xty: np.ndarray, n: int, l1_ratio: float, eps: float, n_alphas: int) -> np.ndarray:
    """scikit-learn's penalty path from X_c' y_c (centred): alpha_max down to eps alpha_max."""
    alpha_max = np.max(np.abs(Xty)) / (n * l1_ratio)
    if alpha_max <= np.finfo(np.float64).resolution:
        return np.full(n_alphas, np.finfo(np.float64).resolution)
    return np.geomspace(alpha_max, alpha_max * eps, num=n_alphas)


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


class _Buffers(threading.local):
    """Large float64 arrays kept for the next fits of this thread.

    Touching fresh memory costs a page fault per 4 KiB, which on the virtual machines measured
    took longer than filling it (about 0.2 s of a 1 s gene at 839 x 3,000 SNVs), so the dosage
    stores and copies of finished cross-validations are reused rather than freed. That keeps
    about 150 MB per thread after a gene of 839 x 3,000, at most KEEP_BYTES.
    """

    KEEP = 16  # buffers kept at most, the largest
    KEEP_BYTES = 512 * 2**20

    def __init__(self) -> None:
        self.free: list[np.ndarray] = []

    def take(self, rows: int, cols: int) -> np.ndarray:
        """A (rows, cols) array, contents undefined."""
        need = rows * cols
        fits = [i for i, b in enumerate(self.free) if b.size >= need]
        buf = self.free.pop(min(fits, key=lambda i: self.free[i].size)) if fits else np.empty(need)
        return buf[:need].reshape(rows, cols)

    def give(self, array: np.ndarray) -> None:
        """Hand back an array from `take`; it must not be used afterwards."""
        while array.base is not None:
            array = array.base
        self.free.append(array)
        self.free.sort(key=lambda b: -b.size)
        del self.free[self.KEEP :]
        while sum(b.nbytes for b in self.free) > self.KEEP_BYTES:
            self.free.pop(0)  # the largest


_buffers = _Buffers()


@dataclass(frozen=True)
class Solution:
    """A fit at one penalty: its working set's SNVs, coefficients over them (zeros allowed), intercept."""

    snvs: np.ndarray  # SNV indices (rows of XT), distinct
    coef: np.ndarray
    intercept: float
    # (its part, a residual near this fit, X_c'R there for every SNV in full): see TrainingPart.gradient
    reference: tuple[TrainingPart, np.ndarray, np.ndarray] | None = None

    def support(self) -> Solution:
        """The same fit over its nonzero coefficients only."""
        nz = np.flatnonzero(self.coef)
        return Solution(self.snvs[nz], self.coef[nz], self.intercept, self.reference)

    def predict(self, XT: np.ndarray) -> np.ndarray:
        """Predictions for people given as SNVs x people."""
        nz = np.flatnonzero(self.coef)
        return self.coef[nz] @ XT[self.snvs[nz]] + self.intercept


class TrainingPart:
    """The people of one fit, their centred expression and the centred dosages of its working set.

    XT (SNVs x people, not centred) is shared by every part of a cross-validation and never
    copied whole: X_c'R over every SNV is XT times R padded with zeros at the other people
    (R sums to zero over the part's people, so centring would not change it). Only the SNVs
    that enter the working set are gathered and centred, once, as SNV-major rows of a store
    whose first `size` rows are the working set: transposed, the people x SNVs Fortran-ordered
    matrix the compiled solver takes, no copy. SNVs join and leave by swapping rows.
    """

    def __init__(
        self,
        XT: np.ndarray,
        y: np.ndarray,
        rows: np.ndarray | None = None,
        sums: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """`rows`: the part's people (columns of XT; None: all). `sums`: per SNV, the sums of its
        dosages and of their squares over those people, when known (else computed here)."""
        self.XT = XT
        self.everyone = rows is None
        self.rows = np.arange(XT.shape[1]) if rows is None else np.asarray(rows)
        self.n = self.rows.size
        part_y = np.asarray(y, dtype=np.float64)[self.rows]
        self.y_mean = float(part_y.mean())
        self.y = part_y - self.y_mean
        if sums is None:
            dosages = XT[:, self.rows]
            sums = dosages.sum(axis=1), np.einsum("ij,ij->i", dosages, dosages)
        self.means = sums[0] / self.n  # of every SNV over the part's people
        # ||x_j - mean_j|| over them, rounded up: it bounds how far X_j'R moves with R
        self.norms = np.sqrt(np.maximum(sums[1] - sums[0] * self.means, 0.0)) * (1 + 1e-6) + 1e-12
        self._norm_quartile = float(np.quantile(self.norms, 0.25))
        self.reference: tuple[TrainingPart, np.ndarray, np.ndarray] | None = None  # last R, X_c'R in full
        self.size = 0  # of the working set: the first rows of the store
        self.filled = 0  # rows of the store in use
        self.position = np.full(XT.shape[0], -1)  # each SNV's row in the store, -1 if never gathered
        self._store = np.empty((0, self.n))  # centred dosages, SNV-major
        self._snv = np.empty(0, dtype=np.intp)  # the SNV of each row
        self._pad = np.zeros(XT.shape[1])

    @property
    def X(self) -> np.ndarray:
        """The working set's centred dosages, people x SNVs, Fortran order (a view)."""
        return self._store[: self.size].T

    @property
    def snvs(self) -> np.ndarray:
        """The working set's SNVs, in the order of its columns."""
        return self._snv[: self.size]

    def outside(self) -> np.ndarray:
        """Mask over all SNVs: not in the working set."""
        return (self.position < 0) | (self.position >= self.size)

    def gradient(
        self, resid: np.ndarray, limit: float | None = None, xtr: np.ndarray | None = None
    ) -> np.ndarray:
        """X_c'R for every SNV, R (summing to zero) over the part's people; see `near_gradient`."""
        grad = None if limit is None or xtr is None else self.near_gradient(resid, limit, xtr)
        if grad is None:
            self._pad[self.rows] = resid
            grad = self.XT @ self._pad
            self.reference = (self, resid.copy(), grad)
        return grad

    def near_gradient(self, resid: np.ndarray, limit: float, xtr: np.ndarray) -> np.ndarray | None:
        """X_c'R for every SNV where it may exceed `limit` in magnitude, if that is a small step from
        the reference (R0, X_c'R0), else None.

        xtr: X_c'R over the working set. Outside it, the bound |X_j'R| <= |X_j'R0| + ||X_j||
        ||R - R0|| leaves the SNVs to compute; the others keep the reference's value, also at most
        `limit`. After a small step (another round at one penalty, a refit from a looser stop) that
        is a few SNVs.
        """
        if self.reference is None:
            return None
        _, r0, g0 = self.reference
        step = np.linalg.norm(resid - r0)
        if step * self._norm_quartile > limit:  # the bound would leave three quarters or more
            return None
        bound = np.abs(g0) + self.norms * step
        bound[self.snvs] = 0.0  # known
        near = np.flatnonzero(bound > limit * (1 - 1e-9))
        if near.size >= 0.25 * g0.size:
            return None
        self._pad[self.rows] = resid
        grad = g0.copy()
        grad[near] = self.XT[near] @ self._pad
        grad[self.snvs] = xtr
        return grad

    def set_working(self, wanted: np.ndarray, coef: np.ndarray | None = None) -> np.ndarray:
        """Make the SNVs where `wanted` (a mask over all SNVs) the working set; returns `coef`
        (over the working set's columns; None: zeros) over the new columns, zero where an SNV joins."""
        self._gather(np.flatnonzero(wanted & (self.position < 0)))
        inside = np.flatnonzero(wanted[self._snv[: self.filled]])
        size = inside.size
        holes = np.flatnonzero(~wanted[self._snv[:size]])  # rows before the new end that leave
        movers = inside[inside >= size]  # rows beyond it that join, as many
        for a in (self._store, self._snv):
            a[holes], a[movers] = a[movers], a[holes].copy()
        self.position[self._snv[holes]] = holes
        self.position[self._snv[movers]] = movers
        out = np.zeros(size)
        if coef is not None:
            source = np.arange(size)  # the row each new column was in before
            source[holes] = movers
            was_in = source < self.size
            out[was_in] = coef[source[was_in]]
        self.size = size
        return out

    def _gather(self, snvs: np.ndarray) -> None:
        """Append the centred dosages of `snvs` (not in the store) to the store."""
        if snvs.size == 0:
            return
        end = self.filled + snvs.size
        if end > self._store.shape[0]:  # room for twice as many
            cap = min(max(2 * end, 256), self.XT.shape[0])
            store, snv = _buffers.take(cap, self.n), np.empty(cap, dtype=np.intp)
            store[: self.filled], snv[: self.filled] = self._store[: self.filled], self._snv[: self.filled]
            if self._store.size:
                _buffers.give(self._store)
            self._store, self._snv = store, snv
        out = self._store[self.filled : end]
        if self.everyone:
            np.take(self.XT, snvs, axis=0, out=out, mode="clip")
        else:
            rows = np.take(self.XT, snvs, axis=0, out=_buffers.take(snvs.size, self.XT.shape[1]), mode="clip")
            np.take(rows, self.rows, axis=1, out=out, mode="clip")
            _buffers.give(rows)
        out -= self.means[snvs][:, None]
        self._snv[self.filled : end] = snvs
        self.position[snvs] = np.arange(self.filled, end)
        self.filled = end

    def release(self) -> None:
        """Hand the dosage store back for later parts; the working set is then empty."""
        if self._store.size:
            _buffers.give(self._store)
        self._store, self.size, self.filled = np.empty((0, self.n)), 0, 0
        self.position[:] = -1
        self.reference = None

    def coefficients(self, fit: Solution | None) -> np.ndarray:
        """A fit's coefficients over the working set's columns (which must hold its SNVs)."""
        coef = np.zeros(self.size)
        if fit is not None:
            coef[self.position[fit.snvs]] = fit.coef
        return coef

    def solution(self, w: np.ndarray) -> Solution:
        """The fit with coefficients `w` over the working set."""
        intercept = self.y_mean - float(self.means[self.snvs] @ w)
        return Solution(self.snvs.copy(), w.copy(), intercept, self.reference)


class _Solve:
    """One part's fit at one penalty in steps (enet_solve): descend on the working set; given X_c'R
    over every SNV there, finish or let the KKT violators join and descend again."""

    def __init__(
        self,
        part: TrainingPart,
        start: Solution | None,
        alpha: float,
        l1_ratio: float,
        tol: float,
        max_iter: int,
        candidates: np.ndarray | None = None,
    ) -> None:
        self.part, self.alpha, self.l1_ratio, self.tol, self.max_iter = part, alpha, l1_ratio, tol, max_iter
        self.l1 = alpha * l1_ratio * part.n  # the n-scaled penalties of the gap and KKT checks
        self.l2 = alpha * (1.0 - l1_ratio) * part.n
        wanted = np.zeros(part.XT.shape[0], dtype=bool)
        if start is not None:
            wanted[start.snvs] = True
            if start.reference is not None and start.reference[0] is part:
                part.reference = start.reference
        if candidates is not None:
            wanted[candidates] = True
        part.set_working(wanted)
        self.coef = part.coefficients(start)
        self.done = 0
        self.result: tuple[Solution, np.ndarray] | None = None

    def descend(self) -> None:
        """Sweeps on the working set until its gap is met: the residual, X'R over the set."""
        args = self.alpha, self.l1_ratio, self.l1, self.l2, self.tol, self.max_iter - self.done
        self.coef, self.resid, self.xtr, used = _descend(self.part, self.coef, *args)
        self.done += used

    def near_gradient(self) -> np.ndarray | None:
        return self.part.near_gradient(self.resid, self.l1, self.xtr)

    def finish(self, grad: np.ndarray) -> bool:
        """With X_c'R at the descent's end (exact wherever it may exceed l1): whether the whole
        problem's gap is met (then `result` holds the fit and grad), else the violators join."""
        part = self.part
        outside = part.outside()
        joining = outside & (np.abs(grad) > self.l1)
        if self.done < self.max_iter and joining.any():  # else the restricted gap is the whole one's
            full = np.zeros(grad.size)
            full[part.snvs] = self.coef
            gap = duality_gap(part.y, full, self.resid, grad, self.l1, self.l2)  # the whole problem's
            if gap > self.tol * (part.y @ part.y):
                self.coef = part.set_working(~outside | joining, self.coef)
                return False
        self.result = part.solution(self.coef), grad
        return True


@contextmanager
def _quiet_solver():
    """scikit-learn's solver as called here: parameter validation skipped (the inputs are ours and
    already checked; it took about a quarter of the time at 839 x 3,000), and each call's warning
    that it stopped before its own (formulation A) stop silenced."""
    # scikit-learn loads in about a second: only when an elastic net is fitted (compute/stats/baselines.py)
    from sklearn import config_context
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(), config_context(skip_parameter_validation=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def enet_solve(
    part: TrainingPart,
    start: Solution | None,
    alpha: float,
    l1_ratio: float,
    tol: float,
    max_iter: int,
    candidates: np.ndarray | None = None,
) -> tuple[Solution, np.ndarray]:
    """The fit at one penalty from the warm start (a fit of this part or None), stopped at a
    duality gap <= tol ||y_c||^2 of the whole problem, and X_c'R at it for every SNV (exact
    wherever |X_j'R| may exceed the penalty l1 = alpha l1_ratio n).

    The working set starts as the warm start's SNVs and `candidates`. After the first sweeps,
    SNVs still at zero that satisfy their KKT condition leave it; once the restricted gap is met,
    KKT violators over all SNVs join until the whole problem's gap (the restricted one plus what
    the SNVs outside add) is met. At most max_iter sweeps.
    """
    return _solve_together([_Solve(part, start, alpha, l1_ratio, tol, max_iter, candidates)])[0]


def _solve_together(solves: list[_Solve]) -> list[tuple[Solution, np.ndarray]]:
    """Fits of different parts (at most one each) of one cross-validation (one XT), in step: the
    X_c'R over every SNV that a round needs in full are one product of XT with the padded
    residuals, a pass over the dosages for all instead of one each (memory, not arithmetic, bounds
    it)."""
    if len({id(solve.part) for solve in solves}) < len(solves):
        raise ValueError("_solve_together: two fits of one part (they share its working set)")
    pending = list(solves)
    with _quiet_solver():
        while pending:
            for solve in pending:
                solve.descend()
            grads = [solve.near_gradient() for solve in pending]
            full = [i for i, g in enumerate(grads) if g is None]
            if full:
                XT = pending[full[0]].part.XT
                pads = _buffers.take(XT.shape[1], len(full))
                pads[:] = 0.0
                for j, i in enumerate(full):
                    pads[pending[i].part.rows, j] = pending[i].resid
                products = XT @ pads
                _buffers.give(pads)
                for j, i in enumerate(full):
                    part, grad = pending[i].part, products[:, j].copy()
                    part.reference = (part, pending[i].resid.copy(), grad)
                    grads[i] = grad
            pending = [solve for solve, grad in zip(pending, grads, strict=True) if not solve.finish(grad)]
    return [solve.result for solve in solves]


def _descend(
    part: TrainingPart,
    coef: np.ndarray,
    alpha: float,
    l1_ratio: float,
    l1: float,
    l2: float,
    tol: float,
    budget: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Sweeps of scikit-learn's coordinate descent on the working set until its gap <= tol ||y_c||^2:
    coefficients, residual, X'R over the working set, sweeps."""
    from sklearn.linear_model import enet_path

    y = part.y
    tol_abs = tol * (y @ y)
    done = 0
    shrunk = False
    while True:
        X = part.X
        resid = y - X @ coef
        xtr = X.T @ resid
        if done >= budget or duality_gap(y, coef, resid, xtr, l1, l2) <= tol_abs:
            return coef, resid, xtr, done
        if done and not shrunk:
            # SNVs the first sweeps left at zero and that satisfy their KKT condition leave the set
            # (the check on all SNVs at the end brings back any that should not have)
            keep = (coef != 0) | (np.abs(xtr) > l1)
            if keep.sum() < 0.9 * keep.size:
                wanted = np.zeros(part.XT.shape[0], dtype=bool)
                wanted[part.snvs[keep]] = True
                coef = part.set_working(wanted, coef)
                X = part.X
            shrunk = True
        # a few sweeps of scikit-learn's coordinate descent (its own stop: formulation A),
        # through its public path function with one penalty and the warm start
        _, coefs, _, n_iter = enet_path(
            X, y, l1_ratio=l1_ratio, alphas=[alpha], coef_init=coef, precompute=False, check_input=False,
            return_n_iter=True, max_iter=min(SWEEPS if shrunk else FIRST, budget - done), tol=tol,
        )  # fmt: skip
        coef = coefs[:, 0]
        done += max(n_iter[0], 1)  # 0 when it found its own stop met on entry


def _path_step(
    part: TrainingPart,
    last: Solution | None,
    grad: np.ndarray,
    alpha: float,
    l1_ratio: float,
    tol: float,
    max_iter: int,
) -> _Solve:
    """The next fit down the path from the last one (None: all zero, `grad` X_c'y_c), to run."""
    # the last fit's strong KKT violators at this penalty join the working set from the start (the
    # others join if they still violate after the restricted solve); SNVs it left at zero leave it
    candidates = np.flatnonzero(np.abs(grad) > SEED * alpha * l1_ratio * part.n)
    warm = None if last is None else last.support()
    return _Solve(part, warm, alpha, l1_ratio, tol, max_iter, candidates)


def enet_path_fit(
    part: TrainingPart,
    alphas: np.ndarray,
    l1_ratio: float,
    tol: float,
    max_iter: int,
    grad: np.ndarray | None = None,
) -> list[Solution]:
    """Fits down the path, each warm-started from the last and stopped at gap <= tol ||y_c||^2.

    grad: X_c'y_c over every SNV, when known."""
    fits: list[Solution] = []
    grad = part.gradient(part.y) if grad is None else grad
    for alpha in alphas:
        step = _path_step(part, fits[-1] if fits else None, grad, alpha, l1_ratio, tol, max_iter)
        [(fit, grad)] = _solve_together([step])
        fits.append(fit)
    return fits


@dataclass(frozen=True)
class CVFit:
    """An elastic net whose penalty was chosen by K-fold cross-validation, refitted on all rows."""

    coef: np.ndarray  # (n_snvs,)
    intercept: float
    alpha: float  # the chosen penalty
    alphas: np.ndarray  # the path
    mse: np.ndarray = field(default_factory=lambda: np.empty(0))  # mean test MSE of each penalty

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
    scratch: list[np.ndarray] = []  # pooled arrays, handed back at the end
    parts: list[TrainingPart] = []
    try:
        if not (XT.dtype == np.float64 and XT.flags.c_contiguous):
            # SNV-major float64 for the row gathers, in a reused buffer and copied in blocks of SNVs
            # (a people-major input, as baselines.predixcan_r passes, is then read in cache-sized
            # pieces): 2 ms at 3,000 x 671 where np.ascontiguousarray took 30
            given, XT = XT, _buffers.take(*XT.shape)
            scratch.append(XT)
            for start in range(0, XT.shape[0], 128):
                XT[start : start + 128] = given[start : start + 128]
        Xty, Xt1, Xt2 = XT @ y, XT.sum(axis=1), np.einsum("ij,ij->i", XT, XT)
        whole = TrainingPart(XT, y, sums=(Xt1, Xt2))
        parts.append(whole)
        grad = Xty - whole.y_mean * Xt1  # X_c'y_c
        alphas = alpha_grid(grad, whole.n, l1_ratio, eps, n_alphas)
        splits = list(KFold(folds, shuffle=True, random_state=seed).split(y))
        tests, grads = [], []
        for train, test in splits:
            XT_test = np.take(XT, test, axis=1, out=_buffers.take(XT.shape[0], test.size), mode="clip")
            scratch.append(XT_test)  # the fold's test people
            # the part's sums and X_c'y_c (which seeds its first working set): the whole's less the
            # test people's
            t1 = XT_test.sum(axis=1)
            part = TrainingPart(XT, y, train, (Xt1 - t1, Xt2 - np.einsum("ij,ij->i", XT_test, XT_test)))
            parts.append(part)
            tests.append(XT_test)
            grads.append(Xty - XT_test @ y[test] - part.y_mean * (Xt1 - t1))
        folded = parts[1:]
        fits: list[list[Solution]] = [[] for _ in folded]
        mse = np.zeros((folds, n_alphas))
        looseness = np.ones(n_alphas)  # each penalty's stop, in units of tol ||y_c||^2

        def test_mse(f: int, k: int) -> float:
            return float(np.mean((y[splits[f][1]] - fits[f][k].predict(tests[f])) ** 2))

        # all folds one penalty at a time: once the mean MSE has risen well above its least, the
        # smaller penalties are far from the choice and a looser stop serves their warm starts
        for k, alpha in enumerate(alphas):
            least = mse[:, :k].mean(axis=0).min() if k else 0.0
            rise = mse[:, k - 1].mean() / least - 1 if least > 0 else 0.0
            looseness[k] = LOOSE * rise / RISEN if rise >= RISEN else 1.0
            stop = tol * looseness[k]
            steps = [
                _path_step(part, fits[f][-1] if k else None, grads[f], alpha, l1_ratio, stop, max_iter)
                for f, part in enumerate(folded)
            ]
            for f, (fit, grads[f]) in enumerate(_solve_together(steps)):
                fits[f].append(fit)
                mse[f, k] = test_mse(f, k)
        # refine every penalty near the least mean MSE (farther for loose fits) until that set is closed
        margin = np.where(looseness > 1, LOOSE_MARGIN * np.sqrt(looseness / LOOSE), MARGIN)
        refined = np.zeros(n_alphas, dtype=bool)
        while True:
            near = ~refined & (mse.mean(axis=0) <= mse.mean(axis=0).min() * (1 + margin))
            if not near.any():
                break
            for k in np.flatnonzero(near):
                again = [
                    _Solve(part, fits[f][k], alphas[k], l1_ratio, tol * TIGHT, max_iter)
                    for f, part in enumerate(folded)
                ]
                for f, (fit, _) in enumerate(_solve_together(again)):
                    fits[f][k] = fit
                    mse[f, k] = test_mse(f, k)
            refined |= near
        mean = mse.mean(axis=0)
        best = int(np.argmin(mean))
        path = enet_path_fit(whole, alphas[: best + 1], l1_ratio, tol, max_iter, grad)
        fit, _ = enet_solve(whole, path[-1], alphas[best], l1_ratio, tol * TIGHT, max_iter)
    finally:
        for part in parts:
            part.release()
        for array in scratch:
            _buffers.give(array)
    coef = np.zeros(XT.shape[0])
    coef[fit.snvs] = fit.coef
    return CVFit(coef=coef, intercept=fit.intercept, alpha=float(alphas[best]), alphas=alphas, mse=mean)
