"""Personal haplotype sequences: the SNVs of a window read from a phased VCF/BCF,
and batches of each person's two haplotypes (tokens: compute/cohort/reference.py).

Conventions (docs/architecture.md): `alleles` is `(n_people, 2, n_snvs)` with 1 where that
haplotype carries the kept ALT.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from compute.cohort import CHROM_FIELD
from compute.cohort.reference import BASES, BYTE_TOKENS, N_TOKEN, decode, encode
from compute.errors import InputError

if TYPE_CHECKING:
    from compute.cohort.reference import Reference

REF_MISMATCH = ("skip", "error")  # skip: records skipped, counted, the run refused above 0.1%
REF_MISMATCH_LIMIT = 0.001  # a larger share of REF alleles disagreeing with the FASTA: another build


@dataclass
class WindowCounts:
    """What was skipped or replaced while reading the records of a window."""

    indels: int = 0
    multiallelic: int = 0
    missing: int = 0  # genotype calls (person x record) missing or unphased, read as REF
    haploid: int = 0  # one-allele calls (male chrX): both haplotypes carry that allele
    snv_records: int = 0  # SNV records whose REF was checked against the FASTA
    ref_mismatch: int = 0  # of those, REF disagreeing with the FASTA (skipped under policy "skip")
    ref_mismatch_examples: list[str] = field(default_factory=list)


@dataclass
class WindowVariants:
    """The SNVs of one window for a fixed list of people.

    `variants`: one row per SNV (variant_id, chrom, pos 1-based, ref, alt, alt_freq, maf),
    alt = the kept ALT (the most common one in these people for multi-allelic records).
    `alleles`: uint8 (n_people, 2, n_snvs), 1 where the haplotype carries the kept ALT.
    `codes`: uint8 (n_people, 2, n_snvs), the allele index actually carried (0 = REF,
    k = k-th ALT of the record); it differs from `alleles` only at multi-allelic records.
    `allele_tokens`: uint8 (n_snvs, max_alleles), token of each allele index (N beyond the
    record's alleles).
    """

    variants: pd.DataFrame
    alleles: np.ndarray
    codes: np.ndarray
    allele_tokens: np.ndarray
    people: list[str]
    counts: WindowCounts = field(default_factory=WindowCounts)

    @property
    def dosage(self) -> np.ndarray:
        """ALT dosage per person and SNV, uint8 (n_people, n_snvs), values 0, 1, 2."""
        return self.alleles.sum(axis=1, dtype=np.uint8)

    @property
    def n_snvs(self) -> int:
        return self.alleles.shape[2]

    @property
    def alt_tokens(self) -> np.ndarray:
        """Token of each SNV's kept ALT, uint8 (n_snvs,): what ISM and gradients insert."""
        return encode("".join(self.variants["alt"])) if self.n_snvs else np.zeros(0, np.uint8)


# ---------------------------------------------------------------------------
# Reading a VCF/BCF


@dataclass
class SnvRecord:
    """One SNV record as read: position, alleles and each haplotype's allele index."""

    chrom: str
    pos: int
    variant_id: str
    ref: str
    alts: list[str]
    codes: np.ndarray  # uint8 (n_people, 2): allele index carried by each haplotype


def _record_label(path: str | Path, chrom: str, pos: int, vid: str | None, ref: str, alts: list[str]) -> str:
    return f"{path}: record {chrom}:{pos} {vid or '.'} {ref}>{','.join(alts) or '.'}"


def vcf_for(spec: str | Path, chrom: str) -> Path:
    """The genotype file of one chromosome: `spec` itself, or `spec` with {chrom} filled in."""
    return Path(str(spec).replace(CHROM_FIELD, str(chrom)))


def is_vcf_template(spec: str | Path) -> bool:
    return CHROM_FIELD in str(spec)


def open_vcf(path: str | Path, samples: Sequence[str] | None = None):
    """Open an indexed VCF/BCF with cyvcf2; a missing file or index is an InputError."""
    import cyvcf2

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: genotype file not found (expected a bgzipped, indexed VCF or BCF)")
    index = [Path(f"{path}.tbi"), Path(f"{path}.csi")]
    if not any(p.is_file() for p in index):
        raise InputError(
            f"{path}: no index found (expected {index[0].name} or {index[1].name}); "
            f"make one with `bcftools index {'-t ' if path.suffix == '.gz' else ''}{path.name}`"
        )
    try:
        vcf = cyvcf2.VCF(str(path), samples=list(samples) if samples is not None else None, lazy=True)
    except Exception as err:  # cyvcf2 raises a bare Exception for a bad header
        duplicated = _duplicate_vcf_samples(path)
        if duplicated:
            raise InputError(
                f"{path}: header (#CHROM line): duplicate sample IDs {duplicated[:5]}; "
                "expected each sample once"
            ) from err
        raise InputError(f"{path}: cannot be read as VCF/BCF ({err})") from err
    return vcf


def _duplicate_vcf_samples(path: Path) -> list[str]:
    """Sample IDs named twice on the #CHROM line of a (bgzipped) text VCF; [] for BCF or no header."""
    import gzip

    try:
        with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as fh:
            for line in fh:
                if line.startswith("#CHROM"):
                    samples = pd.Index(line.rstrip("\n").split("\t")[9:])
                    return samples[samples.duplicated()].unique().tolist()
                if not line.startswith("#"):
                    break
    except (OSError, UnicodeDecodeError, EOFError):
        pass
    return []


CHUNK = 256  # records read before their checks run, at once over the chunk


@dataclass
class SnvChunk:
    """Consecutive SNV records of a window as read and checked (at most CHUNK of them)."""

    chrom: str
    pos: np.ndarray  # int64 (m,), 1-based
    ids: list[str]
    refs: list[str]
    alts: list[list[str]]
    codes: np.ndarray  # uint8 (m, n_people, 2): allele index carried by each haplotype

    def records(self) -> Iterator[SnvRecord]:
        for k, pos in enumerate(self.pos.tolist()):
            yield SnvRecord(self.chrom, pos, self.ids[k], self.refs[k], self.alts[k], self.codes[k])


def iter_snv_chunks(
    vcf_path: str | Path,
    vcf,
    chrom: str,
    start0: int,
    end0: int,
    order: np.ndarray,
    missing: str,
    counts: WindowCounts,
    reference: Reference | None = None,
    ref_mismatch: str = "error",
    windows: Sequence[tuple[int, int]] | None = None,
) -> Iterator[SnvChunk]:
    """SNV records with POS in `[start0 + 1, end0]`, checked, for the people `vcf.samples[order]`,
    in chunks of consecutive records (the checks run on a chunk at once: a pass over a cohort's
    windows costs little more than htslib's parsing).

    windows: sorted, disjoint 0-based half-open windows inside `[start0, end0)`: only the records
    inside one of them are taken (nearby windows read as one span; records between them skipped
    and not counted).

    Indels (any allele longer than one base or symbolic) are skipped and counted;
    multi-allelic SNVs are counted. With `reference`, REF must match the FASTA base.
    Missing or unphased heterozygous calls raise InputError (missing="error") or
    are read as REF and counted (missing="reference"): a missing allele becomes REF
    while the other allele of a phased call is kept (`0|.` = REF, REF; `1|.` = ALT, REF),
    and an unphased heterozygous call becomes REF on both haplotypes. Unphased
    homozygous calls are unambiguous and accepted. A REF that disagrees with the FASTA raises
    (ref_mismatch="error") or skips the record, counted (ref_mismatch="skip": the caller judges
    the rate, `load_cohort`).
    """
    if ref_mismatch not in REF_MISMATCH:
        raise InputError(f"--ref-mismatch {ref_mismatch!r}: expected one of {', '.join(REF_MISMATCH)}")
    if missing not in ("error", "reference"):
        raise InputError(f"missing genotype policy must be 'error' or 'reference', got {missing!r}")
    lo, hi = max(start0, 0) + 1, end0
    if hi < lo or chrom not in set(vcf.seqnames):
        return
    reader = _ChunkChecks(vcf_path, vcf, chrom, order, missing, counts, reference, ref_mismatch)
    gt = np.empty((CHUNK, len(vcf.samples), 3), np.int16)  # raw GT of the chunk: allele, allele, phased
    pos: list[int] = []
    ids: list[str | None] = []
    refs: list[str] = []
    alts: list[list[str]] = []
    inside = list(windows) if windows is not None else [(lo - 1, hi)]
    w = 0
    for rec in vcf(f"{chrom}:{lo}-{hi}"):
        p = rec.POS
        if not (lo <= p <= hi):
            continue  # a deletion starting before the window overlaps it; not an SNV anyway
        while w < len(inside) - 1 and p > inside[w][1]:
            w += 1
        if not (inside[w][0] < p <= inside[w][1]):
            continue  # between two windows read as one span
        ref, alt = rec.REF, rec.ALT
        if len(ref) != 1 or not alt or any(len(a) != 1 or a not in "ACGTNacgtn" for a in alt):
            if alt:  # a record without ALT (".") is monomorphic: nothing to apply or count
                counts.indels += 1
            continue
        calls = rec.genotype.array()
        if calls.shape[1] != 3:
            if calls.shape[1] != 2:
                label = _record_label(vcf_path, chrom, p, rec.ID, ref, alt)
                raise InputError(
                    f"{label}: expected diploid or haploid genotypes, found ploidy {calls.shape[1] - 1}"
                )
            # every call of the record haploid: allele, none (htslib's -2), phased
            n = len(calls)
            calls = np.stack([calls[:, 0], np.full(n, -2, calls.dtype), np.ones(n, calls.dtype)], axis=1)
        gt[len(pos)] = calls
        pos.append(p)
        ids.append(rec.ID)
        refs.append(ref)
        alts.append(alt)
        if len(pos) == CHUNK:
            chunk = reader.check(pos, ids, refs, alts, gt)
            if chunk is not None:
                yield chunk
            pos, ids, refs, alts = [], [], [], []
    if pos:
        chunk = reader.check(pos, ids, refs, alts, gt)
        if chunk is not None:
            yield chunk


class _ChunkChecks:
    """The checks of `iter_snv_chunks`, over a chunk of records at once."""

    def __init__(self, vcf_path, vcf, chrom: str, order: np.ndarray, missing: str, counts: WindowCounts,
                 reference: Reference | None, ref_mismatch: str):  # fmt: skip
        self.vcf_path, self.samples, self.chrom, self.order = vcf_path, vcf.samples, chrom, order
        self.missing, self.counts, self.ref_mismatch = missing, counts, ref_mismatch
        self.reference = reference
        self.identity = np.array_equal(order, np.arange(len(vcf.samples)))

    def label(self, pos: list[int], ids: list, refs: list[str], alts: list[list[str]], k: int) -> str:
        return _record_label(self.vcf_path, self.chrom, pos[k], ids[k], refs[k], alts[k])

    def check(self, pos: list[int], ids: list, refs: list[str], alts: list[list[str]],
              gt: np.ndarray) -> SnvChunk | None:  # fmt: skip
        counts, m = self.counts, len(pos)
        positions = np.asarray(pos, dtype=np.int64)
        kept = np.ones(m, dtype=bool)
        if self.reference is not None:
            # the bases under the chunk's records, in one read of the span they cover (N off the chromosome)
            first = int(positions.min())
            fasta = self.reference.tokens(self.chrom, first - 1, int(positions.max()))[positions - first]
            given = BYTE_TOKENS[np.frombuffer("".join(refs).encode("ascii"), np.uint8)]
            counts.snv_records += m
            mismatch = np.flatnonzero(fasta != given)
            if mismatch.size and self.ref_mismatch == "error":
                k = int(mismatch[0])
                raise InputError(
                    f"{self.label(pos, ids, refs, alts, k)}: REF allele {refs[k]!r} disagrees with the "
                    f"reference FASTA, which has {BASES[fasta[k]]!r} at {self.chrom}:{pos[k]} "
                    "(expected the VCF to be called against this FASTA)"
                )
            counts.ref_mismatch += int(mismatch.size)
            for k in mismatch[: max(0, 3 - len(counts.ref_mismatch_examples))]:
                counts.ref_mismatch_examples.append(
                    f"{self.label(pos, ids, refs, alts, k)}: REF {refs[k]} vs FASTA {BASES[fasta[k]]}"
                )
            kept[mismatch] = False
        keep = np.flatnonzero(kept)
        if keep.size == 0:
            return None
        counts.multiallelic += sum(1 for k in keep if len(alts[k]) > 1)
        raw = gt[:m][keep] if keep.size < m else gt[:m]
        raw = raw if self.identity else raw[:, self.order]
        codes = self._codes(raw, lambda r: self.label(pos, ids, refs, alts, int(keep[r])))
        chosen = keep.tolist()
        vids = [ids[k] or f"{self.chrom}:{pos[k]}:{refs[k]}:{alts[k][0]}" for k in chosen]
        kept_refs, kept_alts = [refs[k] for k in chosen], [alts[k] for k in chosen]
        return SnvChunk(self.chrom, positions[keep], vids, kept_refs, kept_alts, codes)

    def _codes(self, gt: np.ndarray, label: Callable[[int], str]) -> np.ndarray:
        """uint8 allele codes `(records, people, 2)` from raw GT `(records, people, 3)` (allele, allele,
        phased).

        Missing or unphased heterozygous calls raise InputError (missing="error") or read as
        REF and are counted (missing="reference"): a missing allele becomes REF while the other
        allele of a phased call is kept (as bcftools consensus does); an unphased heterozygous
        call becomes REF on both haplotypes.
        """
        counts = self.counts
        alleles = gt[:, :, :2]
        if alleles.min(initial=0) >= 0 and gt[:, :, 2].all():  # every call phased, diploid, present
            return alleles.astype(np.uint8)
        alleles = alleles.copy()
        # A haploid call (GT `1`, a male's chrX outside the PARs): both haplotypes carry its allele, so
        # its dosage is 2, as the QTL field counts it (htslib ends a one-allele call with -2).
        haploid = (alleles[:, :, 1] == -2) & (alleles[:, :, 0] >= 0)
        alleles[:, :, 1] = np.where(alleles[:, :, 1] == -2, alleles[:, :, 0], alleles[:, :, 1])
        counts.haploid += int(haploid.sum())
        absent = alleles < 0
        unphased = (gt[:, :, 2] == 0) & (alleles[:, :, 0] != alleles[:, :, 1]) & ~haploid
        bad = absent.any(axis=2) | unphased
        if self.missing == "error" and bad.any():
            r = int(np.flatnonzero(bad.any(axis=1))[0])
            person = int(np.flatnonzero(bad[r])[0])
            sample = self.samples[self.order[person]]
            kind = "missing" if absent[r, person].any() else "unphased"
            hint = (
                "phase the VCF first (SHAPEIT5, Eagle or Beagle), or use --missing reference to read them as "
                "REF on both haplotypes (counted and recorded)"
                if kind == "unphased"
                else "use --missing reference to read them as REF (counted and recorded)"
            )
            raise InputError(
                f"{label(r)}: {kind} genotype for sample {sample} ({int(bad[r].sum())} of "
                f"{bad.shape[1]} samples); expected phased calls like 0|1 ({hint})"
            )
        counts.missing += int(bad.sum())
        return np.where(absent | unphased[:, :, None], 0, alleles).astype(np.uint8)


def _sample_order(vcf_path: str | Path, vcf, people: Sequence[str]) -> np.ndarray:
    """Row index into the opened VCF's samples for each requested person, in the requested order."""
    position = {s: i for i, s in enumerate(vcf.samples)}
    absent = [p for p in people if p not in position]
    if absent:
        raise InputError(
            f"{vcf_path}: {len(absent)} requested samples are not in the file, e.g. {absent[:3]} "
            f"(the file has {len(position)} samples, e.g. {list(position)[:3]})"
        )
    return np.array([position[p] for p in people], dtype=np.int64)


def window_variants(
    vcf_path: str | Path,
    chrom: str,
    start0: int,
    end0: int,
    people: Sequence[str],
    missing: str = "error",
    reference: Reference | None = None,
    ref_mismatch: str = "error",
) -> WindowVariants:
    """The SNVs with 1-based POS inside the 0-based window `[start0, end0)` for `people`."""
    people = list(people)
    vcf = open_vcf(vcf_path, samples=people)
    try:
        order = _sample_order(vcf_path, vcf, people)
        counts = WindowCounts()
        chunks = iter_snv_chunks(vcf_path, vcf, chrom, start0, end0, order, missing, counts, reference,
                                 ref_mismatch)  # fmt: skip
        records = [record for chunk in chunks for record in chunk.records()]
    finally:
        vcf.close()
    return _assemble(records, people, counts)


def window_variants_of(records: list[SnvRecord], people: Sequence[str]) -> WindowVariants:
    """A window's variants from records already read (none: a window without SNVs)."""
    return _assemble(records, list(people), WindowCounts())


def _assemble(records: list[SnvRecord], people: list[str], counts: WindowCounts) -> WindowVariants:
    n_people, n = len(people), len(records)
    codes = np.zeros((n_people, 2, n), dtype=np.uint8)
    max_alleles = max((1 + len(r.alts) for r in records), default=2)
    allele_tokens = np.full((n, max_alleles), N_TOKEN, dtype=np.uint8)
    kept = np.ones(n, dtype=np.uint8)
    rows = []
    for v, r in enumerate(records):
        codes[:, :, v] = r.codes
        allele_tokens[v, : 1 + len(r.alts)] = encode(r.ref + "".join(r.alts))
        if len(r.alts) > 1:
            # The most common ALT among these haplotypes (ties: the first listed) is the SNV.
            carriers = np.bincount(r.codes.ravel(), minlength=1 + len(r.alts))[1:]
            kept[v] = 1 + int(np.argmax(carriers))
        rows.append((r.variant_id, r.chrom, r.pos, r.ref, r.alts[kept[v] - 1]))
    alleles = (codes == kept[None, None, :]).astype(np.uint8)
    variants = pd.DataFrame(rows, columns=["variant_id", "chrom", "pos", "ref", "alt"])
    variants["pos"] = variants["pos"].astype(np.int64)
    alt_freq = alleles.mean(axis=(0, 1)) if n_people else np.full(n, np.nan)
    variants["alt_freq"] = alt_freq
    variants["maf"] = np.minimum(alt_freq, 1 - alt_freq)
    return WindowVariants(variants, alleles, codes, allele_tokens, people, counts)


# ---------------------------------------------------------------------------
# Haplotype sequences


def apply_snvs(
    ref_tokens: np.ndarray, codes: np.ndarray, wv: WindowVariants, window_start0: int
) -> np.ndarray:
    """Token sequences `(B, L)` for haplotypes whose allele indices are the rows of `codes` `(B, n_snvs)`."""
    ref_tokens = np.asarray(ref_tokens, dtype=np.uint8)
    out = np.broadcast_to(ref_tokens, (len(codes), len(ref_tokens))).copy()
    if wv.n_snvs:
        offsets = wv.variants["pos"].to_numpy() - 1 - window_start0
        if offsets.min() < 0 or offsets.max() >= len(ref_tokens):
            raise ValueError("window variants lie outside the reference tokens given")
        rows, cols = np.nonzero(codes)  # row-major: each haplotype's records in file order
        if (np.diff(offsets) == 0).any():
            # Several records at one position: the first one a haplotype carries wins and the
            # rest are skipped, as bcftools consensus does with overlapping variants.
            _, first = np.unique(rows * len(ref_tokens) + offsets[cols], return_index=True)
            rows, cols = rows[first], cols[first]
        out[rows, offsets[cols]] = wv.allele_tokens[cols, codes[rows, cols]]
    return out


def personal_haplotypes(
    ref_tokens: np.ndarray,
    window_variants: WindowVariants,
    window_start0: int,
    batch_size: int = 16,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Batches `(person_index, hap_index, tokens uint8 (B, L))` over every person's two haplotypes.

    Haplotype k of the cohort is person k // 2, hap k % 2 (0 = first GT allele).
    Only one batch of sequences exists at a time.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    codes = window_variants.codes
    flat = codes.reshape(codes.shape[0] * 2, codes.shape[2])
    for start in range(0, len(flat), batch_size):
        k = np.arange(start, min(start + batch_size, len(flat)))
        yield k // 2, k % 2, apply_snvs(ref_tokens, flat[k], window_variants, window_start0)


def unique_haplotypes(alleles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct haplotypes of `(n_people, 2, n_snvs)` allele arrays.

    Returns `(unique_rows (n_unique, n_snvs), inverse (n_people * 2,))` with
    haplotype k = person k // 2, hap k % 2 equal to `unique_rows[inverse[k]]`.
    Pass `WindowVariants.codes` to group haplotypes whose sequences are identical.
    """
    alleles = np.asarray(alleles)
    flat = alleles.reshape(alleles.shape[0] * 2, alleles.shape[2])
    if flat.shape[1] == 0:  # no SNVs: every haplotype is the reference
        return flat[:1], np.zeros(len(flat), dtype=np.int64)
    return unique_rows(flat)


def unique_rows(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(flat, axis=0, return_inverse=True)` of a 2-D array, the inverse flat.

    np.unique(axis=0) sorts and compares whole rows field by field, which costs more per SNV as windows
    grow (2.4 s for 1,678 haplotypes x 16,000 SNVs, a 1-Mb window): for uint8 rows, grouping them by
    their bytes and sorting only the distinct ones gives the same rows in the same order (bytes sort
    as uint8 rows do) in a few per cent of the time."""
    if flat.dtype != np.uint8 or flat.ndim != 2 or flat.shape[1] == 0:
        unique, inverse = np.unique(flat, axis=0, return_inverse=True)
        return unique, inverse.reshape(-1)
    keys = [row.tobytes() for row in np.ascontiguousarray(flat)]
    distinct = sorted(set(keys))
    index = {key: i for i, key in enumerate(distinct)}
    inverse = np.fromiter((index[key] for key in keys), dtype=np.int64, count=len(keys))
    unique = np.frombuffer(b"".join(distinct), dtype=np.uint8).reshape(len(distinct), flat.shape[1])
    return unique.copy(), inverse


# ---------------------------------------------------------------------------
# FASTA output for the command line

_REGION = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")


def parse_region(region: str) -> tuple[str, int, int]:
    """`CHR:START-END` (1-based inclusive) -> (chrom, start0, end0) half-open 0-based."""
    m = _REGION.match(region.strip())
    if not m:
        raise InputError(
            f"--region {region!r}: expected CHR:START-END, 1-based inclusive, e.g. 20:1000001-1010000"
        )
    start, end = int(m["start"].replace(",", "")), int(m["end"].replace(",", ""))
    if start < 1 or end < start:
        raise InputError(f"--region {region!r}: expected 1 <= START <= END, found START={start}, END={end}")
    return m["chrom"], start - 1, end


def write_haplotype_fasta(
    fasta: str | Path,
    vcf: str | Path,
    region: str,
    out: str | Path,
    samples: Sequence[str] | None = None,
    missing: str = "error",
    line_width: int = 60,
) -> int:
    """Write each person's two haplotypes of `region` as FASTA records `SAMPLE_hap1`, `SAMPLE_hap2`.

    Returns the number of records written. Bases off the chromosome are N.
    """
    from compute.cohort.reference import Reference, check_chromosome

    reference = Reference(fasta)
    chrom, start0, end0 = parse_region(region)
    check_chromosome(chrom, reference.chromosomes, f"--region {region}", str(fasta))
    vcf_handle = open_vcf(vcf)
    all_samples = list(vcf_handle.samples)
    vcf_handle.close()
    people = list(samples) if samples else all_samples
    dup = pd.Index(people)[pd.Index(people).duplicated()]
    if len(dup):
        raise InputError(f"--samples: duplicate sample IDs {list(dup[:3])}")
    wv = window_variants(vcf, chrom, start0, end0, people, missing=missing, reference=reference)
    ref_tokens = reference.tokens(chrom, start0, end0)
    out = Path(out)
    n = 0
    with open(out, "w") as fh:
        for persons, haps, tokens in personal_haplotypes(ref_tokens, wv, start0, batch_size=64):
            for p, h, row in zip(persons, haps, tokens, strict=True):
                seq = decode(row)
                fh.write(f">{people[p]}_hap{h + 1}\n")
                for i in range(0, len(seq), line_width):
                    fh.write(seq[i : i + line_width] + "\n")
                n += 1
    return n
