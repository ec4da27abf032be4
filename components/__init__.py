"""Dash views of a results store, one module per panel (layout() + register(app, datasets)).

Component ids are prefixed by the view's name (`volcano-graph`, `locus-csv`, ...).
This package reads stores through compute.store and never imports torch.
"""

from components import expression, gene_card, genotype, ism_eqtl, locus, search, tss_hist, volcano

# Views whose render(datasets, selection) builds what one gene switch shows.
GENE_VIEWS = [gene_card, expression, ism_eqtl, locus, tss_hist, genotype]
ALL_VIEWS = [search, volcano, *GENE_VIEWS]
