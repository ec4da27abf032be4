"""Simulated phased genotypes on the real slice: msprime, out-of-Africa demography, real map.

Coordinates: the simulation runs on local 0-based positions x in [0, L) of the
region; chromosome position (1-based) = region_start + x.

Alleles: msprime's JC69 model draws a random ancestral base per site. JC69 is
symmetric under any relabelling of the four bases, so relabelling each site by
a fixed permutation that maps its ancestral base to the real reference base
(and, where dbSNP lists an SNV at that position, the oldest mutation's base to
the dbSNP allele) keeps the model's law and makes REF agree with the FASTA.
No mutation falls on an N base (mutation rate 0 there).
"""

from __future__ import annotations

import gzip
import io
import math
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import msprime
import numpy as np
import pandas as pd

from compute.demo.reference import CHROM, CHROM_LENGTH, n_runs, require_tool
from compute.errors import InputError

BASES = "ACGT"
# The rate Gutenkunst et al. (2009) assumed when they fitted the model below (stdpopsim keeps it
# with the model): with the genome-wide 1.25e-8 (Scally & Durbin 2012) the fitted sizes would
# give about half the observed diversity.
MUTATION_RATE = 2.35e-8  # per base per generation
SAMPLE_POPULATION = "CEU"

# Gutenkunst et al. 2009, PLoS Genet 5:e1000695, the three-population
# out-of-Africa model as parameterised in msprime's documentation and stdpopsim
# (HomSap OutOfAfrica_3G09): sizes are diploid, times in years (25 y/generation).
OOA_PARAMETERS = {
    "generation_time_years": 25,
    "N_ANC": 7300,  # ancestral population
    "N_AMH": 12300,  # anatomically modern humans, and YRI after the split
    "N_OOA": 2100,  # out-of-Africa bottleneck
    "N_CEU_start": 1000,  # CEU at the CEU/CHB split, then growing
    "N_CHB_start": 510,
    "r_CEU": 0.004,  # growth rate per generation
    "r_CHB": 0.0055,
    "T_ANC_years": 220e3,
    "T_AMH_years": 140e3,
    "T_OOA_years": 21.2e3,
    "m_YRI_OOA": 25e-5,
    "m_YRI_CEU": 3e-5,
    "m_YRI_CHB": 1.9e-5,
    "m_CEU_CHB": 9.6e-5,
}


def ooa_demography(p: dict = OOA_PARAMETERS) -> msprime.Demography:
    """The Gutenkunst et al. 2009 out-of-Africa model (YRI, CEU, CHB)."""
    gen = p["generation_time_years"]
    t_ooa, t_amh, t_anc = p["T_OOA_years"] / gen, p["T_AMH_years"] / gen, p["T_ANC_years"] / gen
    d = msprime.Demography()
    d.add_population(name="YRI", description="Yoruba in Ibadan, Nigeria", initial_size=p["N_AMH"])
    d.add_population(
        name="CEU",
        description="Utah residents with Northern and Western European ancestry",
        initial_size=p["N_CEU_start"] * math.exp(p["r_CEU"] * t_ooa),
        growth_rate=p["r_CEU"],
    )
    d.add_population(
        name="CHB",
        description="Han Chinese in Beijing, China",
        initial_size=p["N_CHB_start"] * math.exp(p["r_CHB"] * t_ooa),
        growth_rate=p["r_CHB"],
    )
    d.add_population(name="OOA", description="Bottleneck out-of-Africa population", initial_size=p["N_OOA"])
    d.add_population(name="AMH", description="Anatomically modern humans", initial_size=p["N_AMH"])
    d.add_population(name="ANC", description="Ancestral equilibrium population", initial_size=p["N_ANC"])
    d.set_symmetric_migration_rate(["CEU", "CHB"], p["m_CEU_CHB"])
    d.set_symmetric_migration_rate(["YRI", "CHB"], p["m_YRI_CHB"])
    d.set_symmetric_migration_rate(["YRI", "CEU"], p["m_YRI_CEU"])
    d.add_population_split(time=t_ooa, derived=["CEU", "CHB"], ancestral="OOA")
    d.add_symmetric_migration_rate_change(time=t_ooa, populations=["YRI", "OOA"], rate=p["m_YRI_OOA"])
    d.add_population_split(time=t_amh, derived=["YRI", "OOA"], ancestral="AMH")
    d.add_population_split(time=t_anc, derived=["AMH"], ancestral="ANC")
    return d


def read_genetic_map(tar_path: Path, chrom: str = CHROM) -> pd.DataFrame:
    """pos (1-based), cM of chr<chrom> from the shapeit4 genetic_maps.b37.tar.gz."""
    member = f"chr{chrom}.b37.gmap.gz"
    with tarfile.open(tar_path, "r:gz") as tar:
        try:
            raw = tar.extractfile(member).read()
        except KeyError:
            raise InputError(f"{tar_path}: expected a member {member}, found none") from None
    gmap = pd.read_csv(io.BytesIO(gzip.decompress(raw)), sep="\t")
    if list(gmap.columns) != ["pos", "chr", "cM"]:
        raise InputError(
            f"{tar_path}: {member} line 1: expected columns pos, chr, cM, found {list(gmap.columns)}"
        )
    if not (np.diff(gmap["pos"]) > 0).all() or (np.diff(gmap["cM"]) < 0).any():
        raise InputError(f"{tar_path}: {member}: expected increasing positions and cM")
    return gmap[["pos", "cM"]]


def recombination_map(gmap: pd.DataFrame, start: int, end: int) -> msprime.RateMap:
    """RateMap over local [0, end - start + 1) from the cM map, linear between map points."""
    pos = gmap["pos"].to_numpy()
    inner = pos[(pos > start) & (pos < end + 1)]
    edges = np.concatenate([[start], inner, [end + 1]])
    cm = np.interp(edges, pos, gmap["cM"].to_numpy())
    rate = np.diff(cm) / 100 / np.diff(edges)  # Morgans per base per generation
    return msprime.RateMap(position=edges - start, rate=rate)


def mutation_map(seq: str, rate: float = MUTATION_RATE) -> msprime.RateMap:
    """Mutation RateMap over the region: `rate` everywhere except 0 on runs of N."""
    edges, rates, last = [0], [], 0
    for s, e in n_runs(seq):
        if s > last:
            edges.append(s)
            rates.append(rate)
        edges.append(e)
        rates.append(0.0)
        last = e
    if last < len(seq):
        edges.append(len(seq))
        rates.append(rate)
    return msprime.RateMap(position=edges, rate=rates)


def read_dbsnp(path: Path, slice_start: int) -> pd.DataFrame:
    """dbSNP SNVs of the hisat2 .snp file: rsid, pos (1-based chromosome), alt.

    Columns of the file: rsID, type, record, offset, allele. The offset is
    0-based within the record (the record's first base has offset 0) and the
    allele is the ALT: at offset + 0 the listed allele never equals the
    reference base, at offset +-1 it does about a fifth of the time. A multi-allelic
    rsID has one line per ALT.
    """
    snp = pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=["rsid", "type", "record", "offset", "allele"],
        dtype={"rsid": str, "type": str, "record": str, "offset": np.int64, "allele": str},
    )
    snv = snp[snp["type"] == "single"]
    return pd.DataFrame({"rsid": snv["rsid"], "pos": snv["offset"] + slice_start, "alt": snv["allele"]})


@dataclass(frozen=True)
class Genotypes:
    """Simulated sites of the region.

    sites: pos (1-based), variant_id, ref, alts (comma-joined, most common first),
    n_alleles, alt_freq (of the first ALT), dbsnp (bool).
    codes: uint8 (n_sites, 2 * n_people): allele index per haplotype, 0 = REF,
    k = k-th ALT; person i's haplotypes are columns 2i (hap1) and 2i + 1 (hap2).
    """

    sites: pd.DataFrame
    codes: np.ndarray

    def dosage(self) -> np.ndarray:
        """(n_sites, n_people) count of the first (most common) ALT per person."""
        first = (self.codes == 1).astype(np.int8)
        return first[:, 0::2] + first[:, 1::2]


def simulate_genotypes(
    seq: str,
    region_start: int,
    gmap: pd.DataFrame,
    dbsnp: pd.DataFrame,
    n_people: int,
    seed: int,
    mutation_rate: float = MUTATION_RATE,
) -> Genotypes:
    """Simulate n_people diploid CEU genomes over seq, whose first base is chromosome region_start."""
    region_end = region_start + len(seq) - 1
    ancestry_seed, mutation_seed = np.random.SeedSequence(seed).generate_state(2)
    ts = msprime.sim_ancestry(
        samples={SAMPLE_POPULATION: n_people},
        demography=ooa_demography(),
        ploidy=2,
        sequence_length=len(seq),
        recombination_rate=recombination_map(gmap, region_start, region_end),
        random_seed=int(ancestry_seed),
    )
    ts = msprime.sim_mutations(
        ts, rate=mutation_map(seq, mutation_rate), model=msprime.JC69(), random_seed=int(mutation_seed)
    )
    sample_nodes = np.array([node for ind in ts.individuals() for node in ind.nodes])
    if not np.array_equal(sample_nodes, ts.samples()):
        raise AssertionError("msprime sample nodes are not in individual order")
    # a multi-allelic rsID is listed once per ALT, in the file's order
    dbsnp_alts = dbsnp.groupby("pos", sort=False)["alt"].agg(list).to_dict()
    dbsnp_id = dict(zip(dbsnp["pos"], dbsnp["rsid"], strict=True))

    rows, codes = [], []
    for var in ts.variants():
        x = int(var.site.position)
        pos = region_start + x
        ref = seq[x]
        oldest = max(var.site.mutations, key=lambda m: m.time)
        known = dbsnp_alts.get(pos, [])
        perm = _relabel(var.site.ancestral_state, ref, oldest.derived_state, known[0] if known else None)
        bases = np.array([perm[a] for a in var.alleles])[var.genotypes]
        counts = {b: int((bases == b).sum()) for b in BASES if b != ref}
        alts = sorted((b for b in counts if counts[b] > 0), key=lambda b: (-counts[b], b))
        if not alts:
            continue  # every sample back at REF
        code = np.zeros(bases.shape, dtype=np.uint8)
        for k, b in enumerate(alts, start=1):
            code[bases == b] = k
        in_dbsnp = any(a in alts for a in known)
        rows.append({
            "pos": pos,
            "variant_id": dbsnp_id[pos] if in_dbsnp else f"{CHROM}:{pos}:{ref}:{alts[0]}",
            "ref": ref,
            "alts": ",".join(alts),
            "n_alleles": 1 + len(alts),
            "alt_freq": counts[alts[0]] / len(bases),
            "dbsnp": in_dbsnp,
        })  # fmt: skip
        codes.append(code)
    sites = pd.DataFrame(rows, columns=["pos", "variant_id", "ref", "alts", "n_alleles", "alt_freq", "dbsnp"])
    matrix = np.array(codes, dtype=np.uint8).reshape(len(codes), 2 * n_people)
    return Genotypes(sites=sites, codes=matrix)


def _relabel(ancestral: str, ref: str, derived: str, dbsnp_alt: str | None) -> dict[str, str]:
    """A permutation of ACGT with ancestral -> ref and, if possible, derived -> dbsnp_alt."""
    perm = {ancestral: ref}
    if dbsnp_alt is not None and dbsnp_alt in BASES and dbsnp_alt != ref and derived != ancestral:
        perm[derived] = dbsnp_alt
    rest_from = [b for b in BASES if b not in perm]
    rest_to = [b for b in BASES if b not in perm.values()]
    perm.update(zip(rest_from, rest_to, strict=True))
    return perm


def write_vcf(genotypes: Genotypes, sample_ids: list[str], out: Path, header_lines: list[str]) -> Path:
    """Write a bgzipped phased VCF `out` (…vcf.gz) and its tabix index `out.tbi`."""
    bgzip, tabix = require_tool("bgzip"), require_tool("tabix")
    out = Path(out)
    plain = out.with_suffix("")
    with open(plain, "w") as f:
        f.write("##fileformat=VCFv4.2\n")
        f.write(f"##contig=<ID={CHROM},length={CHROM_LENGTH},assembly=GRCh37>\n")
        f.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">\n')
        for line in header_lines:
            f.write(f"##{line}\n")
        f.write(
            "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *sample_ids])
        )
        f.write("\n")
        digits = np.array([str(k) for k in range(10)], dtype=object)
        for site, code in zip(genotypes.sites.itertuples(index=False), genotypes.codes, strict=True):
            gt_text = digits[code[0::2]] + "|" + digits[code[1::2]]
            f.write(f"{CHROM}\t{site.pos}\t{site.variant_id}\t{site.ref}\t{site.alts}\t.\tPASS\t.\tGT\t")
            f.write("\t".join(gt_text))
            f.write("\n")
    subprocess.run([bgzip, "--force", "--threads", "1", str(plain)], check=True)
    gz = plain.with_name(plain.name + ".gz")
    if gz != out:
        gz.replace(out)
    subprocess.run([tabix, "--force", "--preset", "vcf", str(out)], check=True)
    return out
