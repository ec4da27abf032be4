"""Compute half: personal haplotypes, Enformer scoring, attributions, cohort
statistics and the results store. Importable without Dash."""
