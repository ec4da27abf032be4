"""The reference genome as uint8 tokens: the token alphabet, the window around a TSS, and an
indexed reference FASTA (plain or bgzip).

Conventions (docs/architecture.md): tokens are `np.uint8` 0-4 = A,C,G,T,N; a window of
length L starts at `tss - 1 - L // 2` (0-based).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from compute.errors import InputError

if TYPE_CHECKING:
    import torch

WINDOW = 196_608
BASES = "ACGTN"
N_TOKEN = 4

# Byte -> token: A/C/G/T in either case, everything else (IUPAC codes, N, gaps) is N.
BYTE_TOKENS = np.full(256, N_TOKEN, dtype=np.uint8)
for _i, _b in enumerate("ACGT"):
    BYTE_TOKENS[ord(_b)] = _i
    BYTE_TOKENS[ord(_b.lower())] = _i
_DECODE = np.frombuffer(BASES.encode(), dtype=np.uint8)
_ONE_HOT = np.eye(5, 4, dtype=np.float32)  # token -> A,C,G,T channels; N (4) all zero


def gene_window(tss: int, length: int = WINDOW) -> tuple[int, int]:
    """0-based half-open window `[start0, end0)` with the 1-based `tss` at index `length // 2`."""
    start0 = int(tss) - 1 - length // 2
    return start0, start0 + length


def encode(seq: str | bytes) -> np.ndarray:
    """Sequence -> uint8 tokens (A,C,G,T = 0..3, anything else = 4 = N)."""
    raw = seq.encode("ascii") if isinstance(seq, str) else bytes(seq)
    return BYTE_TOKENS[np.frombuffer(raw, dtype=np.uint8)]


def decode(tokens: np.ndarray) -> str:
    """uint8 tokens -> upper-case sequence string."""
    return _DECODE[np.asarray(tokens, dtype=np.uint8)].tobytes().decode("ascii")


def one_hot(tokens: np.ndarray | torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Tokens `(..., L)` -> float32 one-hot `(..., L, 4)`, channels A,C,G,T, N all zero.

    The same encoding as enformer-pytorch's `seq_indices_to_one_hot` (which drops
    the fifth class, N). Made per batch: a numpy batch by a table lookup on the CPU,
    a tensor by comparison on its own device (4x faster than `F.one_hot` on a CPU).
    `out`: a float32 CPU tensor of the result's shape (e.g. in pinned memory) to
    write a numpy batch into, saving a copy.
    """
    import torch

    if isinstance(tokens, np.ndarray):
        if out is None:
            return torch.from_numpy(_ONE_HOT[tokens])
        if out.dtype != torch.float32 or tuple(out.shape) != (*tokens.shape, 4):
            expected = (*tokens.shape, 4)
            raise ValueError(f"out: expected float32 {expected}, found {out.dtype} {tuple(out.shape)}")
        np.take(_ONE_HOT, tokens, axis=0, out=out.numpy())
        return out
    t = tokens.to(torch.uint8) if tokens.dtype != torch.uint8 else tokens
    return (t.unsqueeze(-1) == torch.arange(4, dtype=torch.uint8, device=t.device)).float()


def require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")


class Reference:
    """An indexed reference FASTA (plain or bgzip) read as uint8 tokens."""

    def __init__(self, path: str | Path):
        import pyfaidx

        self.path = Path(path)
        require_file(self.path, "reference FASTA")
        fai = Path(f"{self.path}.fai")
        if not fai.is_file() and not os.access(self.path.parent, os.W_OK):
            raise InputError(
                f"{self.path}: no FASTA index {fai.name} and its directory is not writable to build one; "
                f"make it with `samtools faidx {self.path.name}` or copy the FASTA somewhere writable"
            )
        try:
            self._fasta = pyfaidx.Fasta(str(self.path), as_raw=True, build_index=True)
        except pyfaidx.UnsupportedCompressionFormat as err:
            raise InputError(
                f"{self.path}: compressed FASTA must be bgzip (BGZF), found another compression; "
                f"recompress with `gunzip -c {self.path.name} | bgzip > ref.fa.gz`"
            ) from err
        except (pyfaidx.FastaIndexingError, OSError, ValueError, RuntimeError) as err:
            raise InputError(f"{self.path}: cannot be read as an indexed FASTA ({err})") from err
        self._lengths = {name: len(rec) for name, rec in self._fasta.records.items()}
        if not self._lengths:
            raise InputError(f"{self.path}: expected FASTA records, found none")
        gzi = Path(f"{self.path}.gzi")
        self._blocks = _BgzfBlocks(self.path, gzi) if self._fasta.faidx._bgzf and gzi.is_file() else None

    def __reduce__(self):
        # sent to Ray workers with the validated cohort: each opens the same file again (its handles
        # do not travel), at the same path on every node (checked before the first gene)
        return Reference, (self.path,)

    @property
    def chromosomes(self) -> list[str]:
        return list(self._lengths)

    def length(self, chrom: str) -> int:
        check_chromosome(chrom, self._lengths, f"chromosome {chrom!r}", str(self.path))
        return self._lengths[chrom]

    def tokens(self, chrom: str, start0: int, end0: int) -> np.ndarray:
        """uint8 tokens of `[start0, end0)`; positions off the record (start0 may be negative) are N."""
        length = self.length(chrom)
        out = np.full(max(end0 - start0, 0), N_TOKEN, dtype=np.uint8)
        lo, hi = max(start0, 0), min(end0, length)
        if hi > lo:
            if self._blocks is None:
                bases = self._fasta[chrom][lo:hi]
            else:
                bases = self._blocks.bases(self._fasta.faidx.index[chrom], lo, hi)
            out[lo - start0 : hi - start0] = encode(bases)
        return out


class _BgzfBlocks:
    """Random access to a bgzip FASTA through its `.gzi` block index.

    pyfaidx reads every bgzip fetch from the start of its record, which takes
    about a second per fetch 20 Mb into a chromosome; the `.gzi` (written by
    `bgzip -i` or `samtools faidx`) gives the block holding any uncompressed
    offset, so a fetch decompresses only its own blocks.
    """

    def __init__(self, path: Path, gzi: Path):
        from Bio import bgzf

        raw = np.fromfile(gzi, dtype="<u8")
        n = int(raw[0]) if raw.size else -1
        if raw.size != 1 + 2 * n:
            raise InputError(f"{gzi}: expected a bgzip block index (.gzi), found {raw.size * 8} other bytes")
        pairs = raw[1:].reshape(n, 2)  # (compressed, uncompressed) offset of each block after the first
        self._compressed = np.concatenate([[0], pairs[:, 0]]).astype(np.int64)
        self._uncompressed = np.concatenate([[0], pairs[:, 1]]).astype(np.int64)
        self._path = path
        self._reader = bgzf.BgzfReader(str(path), "rb")
        self._virtual = bgzf.make_virtual_offset
        self._lock = threading.Lock()

    def _offset(self, virtual: int) -> int:
        """Uncompressed offset of a virtual offset (what pyfaidx records in the .fai of a bgzip FASTA)."""
        block, within = virtual >> 16, virtual & 0xFFFF
        k = int(np.searchsorted(self._compressed, block))
        if k == self._compressed.size or self._compressed[k] != block:
            raise InputError(f"{self._path}.fai: record offset {virtual} is not a block of {self._path}.gzi")
        return int(self._uncompressed[k]) + within

    def bases(self, record, lo: int, hi: int) -> bytes:
        """Bases [lo, hi) of a record (pyfaidx index entry: offset, lenc bases and lenb bytes per line)."""
        first = self._offset(record.offset)
        start = first + (lo // record.lenc) * record.lenb + lo % record.lenc
        end = first + ((hi - 1) // record.lenc) * record.lenb + (hi - 1) % record.lenc + 1
        k = int(np.searchsorted(self._uncompressed, start, side="right")) - 1
        with self._lock:
            self._reader.seek(self._virtual(int(self._compressed[k]), start - int(self._uncompressed[k])))
            text = self._reader.read(end - start)
        return text.replace(b"\n", b"").replace(b"\r", b"")


def check_chromosome(chrom: str, available, context: str, file: str) -> None:
    """InputError unless `chrom` is one of `available`; suggests the fix for chr-prefix mismatches."""
    if chrom in available:
        return
    names = list(available)
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    other = chrom[3:] if chrom.startswith("chr") else f"chr{chrom}"
    if other in available:
        raise InputError(
            f"{context}: chromosome naming mismatch: found {chrom!r} but {file} names it {other!r} "
            f"(its chromosomes: {shown}); rename one side, e.g. "
            f"{'strip' if chrom.startswith('chr') else 'add'} the 'chr' prefix in the genes table, or "
            "`bcftools annotate --rename-chrs` for a VCF"
        )
    raise InputError(f"{context}: chromosome {chrom!r} not found in {file} (its chromosomes: {shown})")
