"""The cohort: reference genome, phased genotypes, genes and expression; personal haplotypes."""

# In a genotype path: one file per chromosome (`cohort.chr{chrom}.vcf.gz`), read by the cohort
# (compute/cohort/haplotypes.py) and recorded file by file in a store's manifest (compute/store/inputs.py).
CHROM_FIELD = "{chrom}"
