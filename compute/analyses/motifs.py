"""Transcription-factor motifs at SNVs: which motifs a SNV breaks or creates.

Motifs are the JASPAR CORE vertebrate non-redundant profiles (the latest version
of each matrix) from the SQLite database shipped inside the `pyjaspar` wheel, so
nothing is fetched. Each count matrix becomes a log2-odds position weight matrix
(PWM) with the JASPAR pseudocount convention of Wasserman & Sandelin (2004), the
one Biopython's `Bio.motifs.jaspar.calculate_pseudocounts` implements:
`bg[b] * sqrt(mean column count)` added to each base before normalising. The
background is uniform (0.25 each) unless a caller passes another.

PWM entries are rounded to 1/`resolution` bit (default 0.01 bit) so that every
score is an integer number of steps: the null distribution of the best-aligned
score of one motif placement is then computed exactly by dynamic programming
over the columns (as FIMO does), and a score's p-value is P(S >= score) under
the background. Scores and p-values refer to the same rounded matrix.

The scan: for each SNV, every motif placement that overlaps the SNV, on both
strands, is scored on the reference sequence and on the sequence with the ALT
base. One matrix product of the unfolded one-hot windows with all PWMs scores
the reference; the ALT score of a placement differs only at the SNV column, so
it is the reference score plus one PWM entry difference. Per SNV and motif the
strand of the strongest site (either allele) is kept.

An SNV *breaks* a motif when the best reference site has p < threshold and the
best ALT site does not, *creates* one in the opposite case, and *changes* one
when both alleles carry a site (its score still moves by `delta`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from compute.errors import InputError

JASPAR_RELEASE = "JASPAR2024"
UNIFORM_BACKGROUND = (0.25, 0.25, 0.25, 0.25)
SCORE_RESOLUTION = 100  # PWM steps per bit
P_THRESHOLD = 1e-4
BASES = "ACGT"
EFFECTS = ("breaks", "creates", "changes")
SCAN_COLUMNS = [
    "variant_id", "motif_id", "motif_name", "strand", "ref_score", "alt_score", "delta",
    "ref_p", "alt_p", "effect", "hit_offset", "motif_length",
]  # fmt: skip

# ---------------------------------------------------------------------------
# Motif matrices and their exact score distributions


def pwm_from_counts(counts: np.ndarray, background: Sequence[float] = UNIFORM_BACKGROUND) -> np.ndarray:
    """Log2-odds PWM (m, 4) of a count matrix (m, 4), JASPAR pseudocounts `bg * sqrt(mean count)`."""
    counts = np.asarray(counts, dtype=np.float64)
    bg = _check_background(background)
    if counts.ndim != 2 or counts.shape[1] != 4 or len(counts) == 0 or (counts < 0).any():
        raise ValueError(f"expected a non-negative (length, 4) count matrix, found shape {counts.shape}")
    pseudo = bg * math.sqrt(counts.sum() / len(counts))
    freq = (counts + pseudo) / (counts + pseudo).sum(axis=1, keepdims=True)
    return np.log2(freq / bg)


def _check_background(background: Sequence[float]) -> np.ndarray:
    bg = np.asarray(background, dtype=np.float64)
    if bg.shape != (4,) or (bg <= 0).any() or not math.isclose(bg.sum(), 1.0, abs_tol=1e-6):
        raise InputError(f"background base frequencies: expected 4 positive values summing to 1, found {bg}")
    return bg / bg.sum()


def score_survival(steps: np.ndarray, background: Sequence[float]) -> tuple[int, np.ndarray]:
    """Exact null distribution of an integer PWM's score: (lowest score, P(S >= lowest + i)).

    `steps` is the (m, 4) integer matrix; bases are drawn independently from the
    background. The returned survival array has one extra trailing 0 so that any
    score above the maximum looks up p = 0.
    """
    bg = _check_background(background)
    steps = np.asarray(steps, dtype=np.int64)
    low = steps.min(axis=1)
    pmf = np.ones(1)
    for column, floor in zip(steps, low, strict=True):
        shifted = column - floor
        new = np.zeros(len(pmf) + shifted.max())
        for base in range(4):
            new[shifted[base] : shifted[base] + len(pmf)] += bg[base] * pmf
        pmf = new
    survival = np.append(np.cumsum(pmf[::-1])[::-1], 0.0)
    return int(low.sum()), np.minimum(survival, 1.0)


@dataclass(frozen=True)
class MotifSet:
    """Motifs as rounded log2-odds PWMs with their exact score distributions."""

    ids: tuple[str, ...]
    names: tuple[str, ...]
    pwms: tuple[np.ndarray, ...]  # (m, 4) log2-odds, multiples of 1 / resolution
    background: tuple[float, float, float, float]
    resolution: int
    source: str
    lowest: np.ndarray  # (n_motifs,) int: lowest integer score of each motif
    survival: np.ndarray  # all motifs' P(S >= lowest + i) one after another, each with a trailing 0
    survival_start: np.ndarray  # (n_motifs,) where each motif's part of `survival` starts
    survival_length: np.ndarray  # (n_motifs,) its length

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def max_length(self) -> int:
        return max(len(p) for p in self.pwms)

    @property
    def flank(self) -> int:
        """Bases needed on each side of a SNV so every overlapping placement fits."""
        return self.max_length - 1

    def pvalues(self, motif_index: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """P(S >= score) under the background for each (motif, score) pair (arrays of one shape)."""
        motif_index = np.asarray(motif_index)
        steps = np.rint(np.asarray(scores, dtype=np.float64) * self.resolution).astype(np.int64)
        i = np.clip(steps - self.lowest[motif_index], 0, self.survival_length[motif_index] - 1)
        return self.survival[self.survival_start[motif_index] + i]


def motif_set(
    ids: Sequence[str],
    names: Sequence[str],
    counts: Sequence[np.ndarray],
    background: Sequence[float] = UNIFORM_BACKGROUND,
    resolution: int = SCORE_RESOLUTION,
    source: str = "counts",
) -> MotifSet:
    """Build a MotifSet from count matrices (m, 4), columns A, C, G, T."""
    if not (len(ids) == len(names) == len(counts)) or not len(ids):
        raise ValueError("ids, names and counts must be non-empty and of one length")
    bg = _check_background(background)
    pwms, lowest, survival = [], [], []
    for c in counts:
        steps = np.rint(pwm_from_counts(c, bg) * resolution).astype(np.int64)
        low, sf = score_survival(steps, bg)
        pwms.append(steps / resolution)
        lowest.append(low)
        survival.append(sf)
    return MotifSet(
        ids=tuple(ids),
        names=tuple(names),
        pwms=tuple(pwms),
        background=tuple(float(b) for b in bg),
        resolution=resolution,
        source=source,
        lowest=np.array(lowest, dtype=np.int64),
        survival=np.concatenate(survival),
        survival_start=np.cumsum([0] + [len(sf) for sf in survival[:-1]]),
        survival_length=np.array([len(sf) for sf in survival]),
    )


def load_jaspar(
    release: str = JASPAR_RELEASE,
    collection: str = "CORE",
    tax_group: str = "vertebrates",
    background: Sequence[float] = UNIFORM_BACKGROUND,
    resolution: int = SCORE_RESOLUTION,
) -> MotifSet:
    """JASPAR non-redundant motifs (latest version of each matrix) from pyjaspar's offline database."""
    from pyjaspar import jaspar_releases, jaspardb

    if release not in jaspar_releases:
        raise InputError(f"JASPAR release {release!r} not available; pyjaspar has {sorted(jaspar_releases)}")
    db = jaspardb(release=release)
    records = db.fetch_motifs(collection=collection, tax_group=[tax_group], all_versions=False)
    if not len(records):
        raise InputError(f"JASPAR {release}: no {collection} motifs for tax group {tax_group!r}")
    counts = [np.array([m.counts[b] for b in BASES], dtype=np.float64).T for m in records]
    return motif_set(
        [m.matrix_id for m in records],
        [m.name for m in records],
        counts,
        background,
        resolution,
        source=f"{release} {collection} {tax_group}",
    )


# ---------------------------------------------------------------------------
# Reference windows around SNVs


def snv_windows(
    fasta: str | Path,
    chroms: Sequence[str],
    positions: Sequence[int],
    refs: Sequence[str],
    flank: int,
    variant_ids: Sequence[str] | None = None,
) -> np.ndarray:
    """Reference tokens (n, 2 * flank + 1) centred on each SNV (1-based `positions` on FASTA records).

    Bases off the record are N. The reference base at each SNV must equal `refs`.
    """
    from compute.cohort.reference import Reference, check_chromosome

    reference = Reference(fasta)
    ids = [f"{c}:{p}" for c, p in zip(chroms, positions, strict=True)] if variant_ids is None else variant_ids
    out = np.empty((len(positions), 2 * flank + 1), dtype=np.uint8)
    for row, (chrom, pos, ref, vid) in enumerate(zip(chroms, positions, refs, ids, strict=True)):
        check_chromosome(chrom, reference.chromosomes, f"variant {vid}", str(reference.path))
        length, pos = reference.length(chrom), int(pos)
        if not 1 <= pos <= length:
            raise InputError(
                f"{reference.path}: variant {vid}: position {pos} is outside record {chrom!r} (1-{length})"
            )
        out[row] = reference.tokens(chrom, pos - 1 - flank, pos + flank)
        found = "ACGTN"[out[row, flank]]
        if found != str(ref).upper():
            raise InputError(
                f"{reference.path}: variant {vid}: REF {ref!r} does not match the reference base "
                f"{found!r} at {chrom}:{pos}"
            )
    return out


def _snv_tokens(bases: Sequence[str], what: str, variant_ids: Sequence[str]) -> np.ndarray:
    tokens = np.array([BASES.find(str(b).upper()) if len(str(b)) == 1 else -1 for b in bases])
    bad = np.flatnonzero(tokens < 0)
    if len(bad):
        i = bad[0]
        raise InputError(f"variant {variant_ids[i]}: {what} {bases[i]!r} is not a single base A, C, G or T")
    return tokens.astype(np.intp)


# ---------------------------------------------------------------------------
# The scan


def _stacked_pwms(motifs: MotifSet, indices: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Forward then reverse-complement PWMs of `indices`, zero-padded to (2 * n, width, 4); lengths."""
    n = len(indices)
    stacked = np.zeros((2 * n, width, 4), dtype=np.float32)
    lengths = np.array([len(motifs.pwms[i]) for i in indices] * 2)
    for row, i in enumerate(indices):
        pwm = motifs.pwms[i]
        stacked[row, : len(pwm)] = pwm
        stacked[n + row, : len(pwm)] = pwm[::-1, ::-1]  # reverse complement: A,C,G,T -> T,G,C,A
    return stacked, lengths


def _length_groups(motifs: MotifSet, step: int = 4) -> list[tuple[int, np.ndarray]]:
    """Motifs grouped by length rounded up to a multiple of `step`: (padded width, motif indices).

    Padding every motif to the longest (33 bp) would make most of the matrix
    product multiply zeros; per group the work follows the motifs' own lengths.
    """
    lengths = np.array([len(p) for p in motifs.pwms])
    widths = np.minimum(-(-lengths // step) * step, lengths.max())
    return [(int(w), np.flatnonzero(widths == w)) for w in np.unique(widths)]


def scan_snvs(
    windows: np.ndarray,
    alts: Sequence[str] | np.ndarray,
    motifs: MotifSet,
    variant_ids: Sequence[str] | None = None,
    p_threshold: float = P_THRESHOLD,
    batch_size: int = 256,
) -> pd.DataFrame:
    """Motifs each SNV breaks, creates or changes (columns SCAN_COLUMNS, sorted by variant and p).

    `windows`: uint8 tokens (n, W), the SNV at index W // 2, at least `motifs.flank`
    bases on each side (`snv_windows` makes them). `alts`: ALT bases (strings) or
    tokens. `hit_offset`: the strongest site covers positions
    pos + hit_offset ... pos + hit_offset + motif_length - 1 (forward strand).
    """
    windows = np.asarray(windows)
    if windows.ndim != 2 or windows.dtype != np.uint8:
        raise ValueError(f"windows must be uint8 tokens (n, W), found {windows.dtype} {windows.shape}")
    n, w = windows.shape
    center, flank = w // 2, motifs.flank
    if center < flank or w - 1 - center < flank:
        raise ValueError(f"windows of {w} bases are too short: need {flank} bases on each side of the SNV")
    ids = [str(v) for v in variant_ids] if variant_ids is not None else [str(i) for i in range(n)]
    if len(ids) != n or len(alts) != n:
        raise ValueError("windows, alts and variant_ids must have one row per SNV")
    alt_tok = np.asarray(alts, dtype=np.intp) if np.asarray(alts).dtype.kind in "iu" else None
    if alt_tok is None:
        alt_tok = _snv_tokens(list(alts), "ALT", ids)
    ref_tok = windows[:, center].astype(np.intp)
    bad = np.flatnonzero((ref_tok > 3) | (alt_tok > 3) | (alt_tok < 0) | (ref_tok == alt_tok))
    if len(bad):
        i = bad[0]
        raise InputError(
            f"variant {ids[i]}: expected an SNV with REF and ALT in A, C, G, T and REF != ALT, found "
            f"REF {'ACGTN'[ref_tok[i]]!r} ALT {'ACGTN'[min(max(alt_tok[i], 0), 4)]!r}"
        )

    rows = [
        _scan_group(windows, ref_tok, alt_tok, motifs, width, indices, p_threshold, batch_size)
        for width, indices in _length_groups(motifs)
    ]
    best = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    ref_p, alt_p = best["ref_p"], best["alt_p"]
    ref_hit, alt_hit = ref_p < p_threshold, alt_p < p_threshold
    motif = best["motif"]
    # Scores are sums of multiples of 1 / resolution: round away float32 noise.
    ref_score = np.rint(best["ref_score"] * motifs.resolution) / motifs.resolution
    alt_score = np.rint(best["alt_score"] * motifs.resolution) / motifs.resolution
    table = pd.DataFrame(
        {
            "variant_id": np.array(ids, dtype=object)[best["snv"]],
            "motif_id": np.array(motifs.ids, dtype=object)[motif],
            "motif_name": np.array(motifs.names, dtype=object)[motif],
            "strand": np.where(best["reverse"], "-", "+"),
            "ref_score": ref_score,
            "alt_score": alt_score,
            "delta": alt_score - ref_score,
            "ref_p": ref_p,
            "alt_p": alt_p,
            "effect": np.where(ref_hit & alt_hit, "changes", np.where(ref_hit, "breaks", "creates")),
            "hit_offset": best["offset"],
            "motif_length": np.array([len(p) for p in motifs.pwms])[motif],
        }
    )
    table["min_p"] = np.minimum(table.ref_p, table.alt_p)
    table = table.sort_values(["variant_id", "min_p", "motif_id"], kind="stable").drop(columns="min_p")
    return table.reset_index(drop=True)


def _scan_group(
    windows: np.ndarray,
    ref_tok: np.ndarray,
    alt_tok: np.ndarray,
    motifs: MotifSet,
    width: int,
    indices: np.ndarray,
    p_threshold: float,
    batch_size: int,
) -> dict[str, np.ndarray]:
    """Sites of the motifs `indices` (all at most `width` long) at every SNV, batch by batch."""
    stacked, lengths = _stacked_pwms(motifs, indices, width)
    kernel = stacked.reshape(len(stacked), width * 4).T  # (width * 4, 2 * n)
    by_column = stacked.transpose(1, 2, 0)  # (width, 4, 2 * n)
    # change[k, r, a]: score change of every placement whose column k turns from base r to base a
    change = by_column[:, None, :, :] - by_column[:, :, None, :]  # (width, 4 ref, 4 alt, 2 * n)
    invalid = np.arange(width)[:, None] >= lengths[None, :]  # SNV column k beyond the motif
    # Sub-window k starts k bases left of the SNV, so the SNV is column k of the placement.
    center = windows.shape[1] // 2
    unfold = center - np.arange(width)[:, None] + np.arange(width)[None, :]
    one_hot = np.eye(5, 4, dtype=np.float32)
    columns = np.arange(width)[None, :]
    rows = []
    for lo in range(0, len(windows), batch_size):
        hi = min(lo + batch_size, len(windows))
        x = one_hot[windows[lo:hi][:, unfold]].reshape((hi - lo) * width, width * 4)
        ref = (x @ kernel).reshape(hi - lo, width, -1)
        ref[:, invalid] = -np.inf
        alt = ref + change[columns, ref_tok[lo:hi, None], alt_tok[lo:hi, None]]
        rows.append(_sites(ref, alt, lo, motifs, indices, p_threshold))
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def _sites(
    ref: np.ndarray, alt: np.ndarray, first: int, motifs: MotifSet, indices: np.ndarray, p_threshold: float
) -> dict[str, np.ndarray]:
    """(SNV, motif) pairs with a site on either allele: strand, best scores, p-values, offset.

    `ref`, `alt`: scores (batch, SNV column k, 2 * n) of every placement of the
    motifs `indices`, forward strand first.
    Per pair the strand with the strongest site (either allele) is kept; only
    pairs with p < p_threshold on an allele leave this function, so offsets are
    looked up for those alone.
    """
    n_motifs = len(indices)
    ref_best, alt_best = ref.max(axis=1), alt.max(axis=1)  # (batch, 2 * n)
    site = np.maximum(ref_best, alt_best)
    reverse = site[:, n_motifs:] > site[:, :n_motifs]  # ties go to the forward strand
    pick = np.arange(n_motifs)[None, :] + n_motifs * reverse
    ref_s = np.take_along_axis(ref_best, pick, axis=1).astype(np.float64)
    alt_s = np.take_along_axis(alt_best, pick, axis=1).astype(np.float64)
    motif = np.broadcast_to(indices[None, :], pick.shape)
    ref_p, alt_p = motifs.pvalues(motif, ref_s), motifs.pvalues(motif, alt_s)
    snv, m = np.nonzero((ref_p < p_threshold) | (alt_p < p_threshold))
    column = pick[snv, m]
    stronger = np.where((alt_s > ref_s)[snv, m, None], alt[snv, :, column], ref[snv, :, column])
    return {
        "snv": snv + first,
        "motif": indices[m],
        "reverse": reverse[snv, m],
        "ref_score": ref_s[snv, m],
        "alt_score": alt_s[snv, m],
        "ref_p": ref_p[snv, m],
        "alt_p": alt_p[snv, m],
        "offset": -stronger.argmax(axis=1),
    }


# ---------------------------------------------------------------------------
# Enrichment of motif changes among SNV groups


def changed_snvs(
    scan: pd.DataFrame, variant_ids: Sequence[str], effects: Sequence[str] = ("breaks", "creates")
) -> np.ndarray:
    """Per variant of `variant_ids`: does it break or create (by default) at least one motif?"""
    changed = set(scan.loc[scan.effect.isin(list(effects)), "variant_id"])
    return np.array([v in changed for v in variant_ids], dtype=bool)


def motif_enrichment(groups: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Fisher's exact test (two-sided) of the fraction of SNVs with a motif change, each pair of groups.

    `groups`: group name -> boolean array (one entry per SNV of the group, True
    where the SNV changes a motif). The 2x2 table of a pair is
    [[changed_a, unchanged_a], [changed_b, unchanged_b]]; the odds ratio is
    scipy's sample odds ratio.
    """
    from scipy.stats import fisher_exact

    names = list(groups)
    counts = {g: (int(np.sum(groups[g])), int(np.size(groups[g]))) for g in names}
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (ca, na), (cb, nb) = counts[a], counts[b]
            table = [[ca, na - ca], [cb, nb - cb]]
            odds, p = fisher_exact(table) if na and nb else (np.nan, np.nan)
            rows.append(
                {
                    "group_a": a, "n_a": na, "changed_a": ca, "fraction_a": ca / na if na else np.nan,
                    "group_b": b, "n_b": nb, "changed_b": cb, "fraction_b": cb / nb if nb else np.nan,
                    "odds_ratio": float(odds), "p_value": float(p),
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Results stores


@dataclass(frozen=True)
class StoreScan:
    """What `scan_store` wrote: the scan table, the enrichment table and where they are."""

    scan: pd.DataFrame
    enrichment: pd.DataFrame
    scan_path: Path
    enrichment_path: Path


def scan_store(
    store_path: str | Path,
    fasta: str | Path | None = None,
    out: str | Path | None = None,
    background_snvs: int = 10_000,
    seed: int = 0,
    p_threshold: float = P_THRESHOLD,
    release: str = JASPAR_RELEASE,
) -> StoreScan:
    """Scan a store's driver SNVs and a seeded sample of its window SNVs; write the two tables.

    The scan table (`motifs.parquet`, or `out`) holds the scan rows of every
    scanned SNV plus chrom, pos, ref, alt; `motif_enrichment.parquet` beside it
    compares supported drivers, unsupported drivers and the window SNVs (the
    background sample, `background_snvs` of them, all when 0 or more than there
    are). A variant counts once however many gene windows hold it: as a supported
    driver if it is a supported driver of any gene, else as an unsupported driver
    if it is a driver of any gene.
    """
    from compute.store import ResultsStore, write_json_atomic, write_parquet_atomic

    store = ResultsStore(store_path)
    variants = _store_snvs(store)
    fasta_path = _store_fasta(store, fasta)
    scan_path = Path(out) if out is not None else store.path / "motifs.parquet"
    if not scan_path.parent.is_dir():
        raise InputError(f"{scan_path}: its directory does not exist")
    if background_snvs < 0:
        raise InputError(f"background SNVs: expected a count >= 0, found {background_snvs}")

    rng = np.random.default_rng(seed)
    n_all = len(variants)
    if background_snvs == 0 or background_snvs >= n_all:
        background = np.arange(n_all)
    else:
        background = np.sort(rng.choice(n_all, size=background_snvs, replace=False))
    scanned = np.union1d(background, np.flatnonzero(variants.is_driver.to_numpy()))
    chosen = variants.iloc[scanned].reset_index(drop=True)

    motifs = load_jaspar(release)
    windows = snv_windows(fasta_path, chosen.chrom, chosen.pos, chosen.ref, motifs.flank, chosen.variant_id)
    scan = scan_snvs(windows, list(chosen.alt), motifs, list(chosen.variant_id), p_threshold)
    scan = chosen[["variant_id", "chrom", "pos", "ref", "alt"]].merge(scan, on="variant_id", how="inner")

    supported = variants.supported_driver.to_numpy()
    drivers = variants.is_driver.to_numpy()
    ids = variants.variant_id.to_numpy()
    enrichment = motif_enrichment(
        {
            "supported drivers": changed_snvs(scan, ids[supported]),
            "unsupported drivers": changed_snvs(scan, ids[drivers & ~supported]),
            "window SNVs": changed_snvs(scan, ids[background]),
        }
    )
    enrichment_path = scan_path.parent / "motif_enrichment.parquet"
    write_parquet_atomic(scan_path, scan)
    write_parquet_atomic(enrichment_path, enrichment)
    record = {
        "motifs": motifs.source,
        "n_motifs": len(motifs),
        "background": list(motifs.background),
        "score_resolution_bits": 1 / motifs.resolution,
        "p_threshold": p_threshold,
        "fasta": store.record(fasta_path),
        "snvs_scanned": len(chosen),
        "background_snvs": len(background),
        "window_snvs": n_all,
        "seed": seed,
        "changed_means": "breaks or creates at least one motif",
        "scan_table": scan_path.name,
    }
    if scan_path.parent.resolve() == store.path.resolve():
        store.update_manifest(motifs=record)
    else:  # written elsewhere: the store (perhaps shared or read-only) is left as it was
        write_json_atomic(scan_path.with_suffix(".json"), {"store": str(store.path), **record})
    return StoreScan(scan, enrichment, scan_path, enrichment_path)


def _store_snvs(store) -> pd.DataFrame:
    """One row per variant of the store: variant_id, chrom, pos, ref, alt, is_driver, supported_driver."""
    path = store.path / "variants.parquet"
    if not path.is_file():
        raise InputError(f"{path}: not found; the store has no variants table (is it finalized?)")
    columns = ["variant_id", "chrom", "pos", "ref", "alt", "is_driver", "supported"]
    table = pd.read_parquet(path, columns=columns)
    if table.empty:
        raise InputError(f"{path}: no variants to scan")
    missing = table.ref.isna() | table.alt.isna()
    if missing.all():
        raise InputError(
            f"{path}: no REF/ALT alleles (a published dataset without sequence?); "
            "the motif scan needs the alleles and the reference FASTA of a computed store"
        )
    if missing.any():
        first = table.variant_id[missing].iloc[0]
        raise InputError(f"{path}: variant {first}: REF or ALT missing")
    table["is_driver"] = table.is_driver.fillna(False).astype(bool)
    table["supported_driver"] = table.is_driver & table.supported.fillna(False).astype(bool)
    flags = table.groupby("variant_id", sort=False)[["is_driver", "supported_driver"]].any()
    first = table.drop_duplicates("variant_id").set_index("variant_id")[["chrom", "pos", "ref", "alt"]]
    return first.join(flags).reset_index()


def _store_fasta(store, fasta: str | Path | None) -> Path:
    """The FASTA given, else the one the store's manifest records; InputError when neither is there."""
    if fasta is not None:
        path = Path(fasta)
        if not path.is_file():
            raise InputError(f"{path}: reference FASTA not found")
        return path
    recorded = store.manifest.get("inputs", {}).get("fasta", {}).get("path")
    if not recorded:
        raise InputError(
            f"{store.path / 'manifest.json'}: no reference FASTA recorded (a published dataset ships no "
            "sequence); pass --fasta FILE with the reference the store was computed on"
        )
    path = store.resolve(recorded)
    if not path.is_file():
        raise InputError(
            f"{store.path / 'manifest.json'}: the recorded reference FASTA {path} is not there; "
            "pass --fasta FILE"
        )
    return path
