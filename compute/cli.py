"""`python -m compute <command>`: the command line of the compute half.

Each command parses its options here and calls one function of the module that
owns the work. User errors (`InputError`) print one line and exit 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from compute.errors import InputError

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    """Register the function that runs `python -m compute <name>`."""

    def register(func: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = func
        return func

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compute",
        description="Personal gene-expression prediction: inputs, Enformer, statistics, store.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check cohort inputs and print a summary")
    _add_cohort_args(p)

    p = sub.add_parser("haplotypes", help="write personal haplotype sequences as FASTA")
    p.add_argument("--fasta", required=True)
    p.add_argument("--vcf", required=True)
    p.add_argument("--region", required=True, help="CHR:START-END, 1-based inclusive")
    p.add_argument("--out", required=True)
    p.add_argument("--samples", nargs="+", help="sample IDs (default: all in the VCF)")
    _add_genotype_policy_args(p)

    p = sub.add_parser(
        "import-published", help="import the published Sasse et al. 2023 results into a results store"
    )
    p.add_argument("src", metavar="SRC", help="folder with the published files (see its SOURCE.md)")
    p.add_argument("dir", metavar="DIR", help="results store to write (the files are copied to DIR/source)")

    return parser


def _add_cohort_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fasta", required=True, help="reference FASTA (plain or bgzip, indexed)")
    p.add_argument("--vcf", required=True, help="phased VCF/BCF, bgzip + index")
    p.add_argument("--genes", required=True, help="genes TSV (gene_id, gene_name, chrom, tss, strand) or GTF")
    p.add_argument("--expression", required=True, help="genes x people matrix: TSV, CSV or Parquet")
    p.add_argument("--window", type=int, default=196_608, help="window length in bp around each TSS")
    _add_genotype_policy_args(p)


def _add_genotype_policy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--missing",
        choices=["error", "reference"],
        default="error",
        help="unphased or missing genotypes: stop with an error, or read as REF and report the count",
    )


@command("validate")
def _validate(args: argparse.Namespace) -> int:
    from compute.inputs import load_cohort

    cohort = load_cohort(
        fasta=args.fasta,
        vcf=args.vcf,
        genes=args.genes,
        expression=args.expression,
        window=args.window,
        missing=args.missing,
    )
    print(cohort.summary())
    return 0


@command("haplotypes")
def _haplotypes(args: argparse.Namespace) -> int:
    from compute.haplotypes import write_haplotype_fasta

    write_haplotype_fasta(
        fasta=args.fasta,
        vcf=args.vcf,
        region=args.region,
        out=args.out,
        samples=args.samples,
        missing=args.missing,
    )
    return 0


@command("import-published")
def _import_published(args: argparse.Namespace) -> int:
    from compute.published import import_published

    store = import_published(args.src, args.dir)
    summary = store.manifest["summary"]
    print(
        f"{store.path}: {summary['genes']} genes ({summary['significant']} significant), "
        f"{summary['drivers']} drivers in {summary['driver_genes']} genes"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
