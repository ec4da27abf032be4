"""The demo reference: real GRCh37 chr22:20,000,001-21,000,000 at its real coordinates.

The Debian `hisat2` example carries only this 1 Mb slice, as one record named
`22:20000001-21000000`. The demo ships it as a record `22` of the full GRCh37
chr22 length whose bases outside the slice are N, so that the VCF, the genes
table and every window use real chromosome coordinates and read like any user
cohort. Compressed with BGZF the 50 Mb of N cost almost nothing; the record is
indexed with `.fai` (uncompressed offsets, as samtools writes it) and `.gzi`
(BGZF block offsets), which pyfaidx and htslib (bcftools) both read.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from compute.errors import InputError

CHROM = "22"
CHROM_LENGTH = 51_304_566  # GRCh37 chr22
SLICE_NAME = "22:20000001-21000000"
SLICE_START = 20_000_001  # 1-based chr22 position of the slice's first base
SLICE_END = 21_000_000
LINE_WIDTH = 60


def read_slice(path: Path) -> str:
    """Return the slice sequence (upper case) from the Debian hisat2 example FASTA."""
    lines = Path(path).read_text().splitlines()
    if not lines or lines[0] != f">{SLICE_NAME}":
        found = lines[0] if lines else "an empty file"
        raise InputError(f"{path}: line 1: expected the header '>{SLICE_NAME}', found {found!r}")
    headers = [i + 1 for i, line in enumerate(lines) if line.startswith(">")]
    if len(headers) != 1:
        raise InputError(f"{path}: line {headers[1]}: expected one FASTA record, found {len(headers)}")
    seq = "".join(lines[1:]).upper()
    expected = SLICE_END - SLICE_START + 1
    if len(seq) != expected:
        raise InputError(f"{path}: record {SLICE_NAME}: expected {expected:,} bases, found {len(seq):,}")
    bad = re.search(r"[^ACGTN]", seq)
    if bad:
        raise InputError(
            f"{path}: record {SLICE_NAME}, base {bad.start() + 1}: expected A, C, G, T or N, "
            f"found {bad.group()!r}"
        )
    return seq


def n_runs(seq: str) -> list[tuple[int, int]]:
    """0-based half-open (start, end) of every run of N in seq."""
    return [(m.start(), m.end()) for m in re.finditer("N+", seq)]


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise InputError(
            f"the demo recipe needs the '{name}' command (Debian package tabix): "
            "run `bash scripts/setup.sh --test`"
        )
    return path


def write_reference(seq: str, out: Path, slice_start: int = SLICE_START) -> Path:
    """Write `out` (e.g. chr22.fa.gz): record `22` = N, then seq at slice_start, then N.

    Writes `out`, `out.fai` and `out.gzi`; returns `out`.
    """
    bgzip = require_tool("bgzip")
    out = Path(out)
    plain = out.with_suffix("")  # chr22.fa.gz -> chr22.fa
    header = f">{CHROM} GRCh37 chr22; only {slice_start:,}-{slice_start + len(seq) - 1:,} known, the rest N\n"
    before = slice_start - 1
    after = CHROM_LENGTH - before - len(seq)
    if after < 0:
        raise InputError(f"slice of {len(seq):,} bases at {slice_start:,} runs past chr22 ({CHROM_LENGTH:,})")
    with open(plain, "w") as f:
        f.write(header)
        _write_wrapped(f, _chunks(before, seq, after))
    subprocess.run([bgzip, "--force", "--index", "--threads", "1", str(plain)], check=True)
    # bgzip writes plain + ".gz" and its index plain + ".gz.gzi".
    gz = plain.with_name(plain.name + ".gz")
    if gz != out:
        gz.replace(out)
        gz.with_name(gz.name + ".gzi").replace(out.with_name(out.name + ".gzi"))
    # samtools-style .fai: name, length, offset of the first base in the
    # uncompressed text, bases per line, bytes per line. For a record that starts
    # in the first BGZF block this offset equals the virtual offset pyfaidx uses.
    out.with_name(out.name + ".fai").write_text(
        f"{CHROM}\t{CHROM_LENGTH}\t{len(header)}\t{LINE_WIDTH}\t{LINE_WIDTH + 1}\n"
    )
    return out


def _chunks(before: int, seq: str, after: int):
    """The record's bases in pieces of whole lines (no piece ever builds the 51 Mb string)."""
    block = LINE_WIDTH * 100_000
    yield from _n_pieces(before, block)
    yield seq
    yield from _n_pieces(after, block)


def _n_pieces(n: int, block: int):
    while n > 0:
        yield "N" * min(n, block)
        n -= min(n, block)


def _write_wrapped(f, pieces) -> None:
    """Write the concatenation of pieces as lines of LINE_WIDTH bases."""
    pending = ""
    for piece in pieces:
        pending += piece
        cut = len(pending) - len(pending) % LINE_WIDTH
        body = pending[:cut]
        f.write("".join(body[i : i + LINE_WIDTH] + "\n" for i in range(0, len(body), LINE_WIDTH)))
        pending = pending[cut:]
    if pending:
        f.write(pending + "\n")


def base_array(seq: str) -> np.ndarray:
    """seq as a numpy array of single-character strings (for per-site lookups)."""
    return np.frombuffer(seq.encode("ascii"), dtype="S1")
