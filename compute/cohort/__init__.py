"""The cohort: reference genome, phased genotypes, genes and expression; personal haplotypes."""
