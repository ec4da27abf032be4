"""Dash views of a results store, one module per panel (layout() + register(app, datasets)).

Component ids are prefixed by the view's name (`volcano-graph`, `locus-csv`, ...).
This package reads stores through compute.store and never imports torch.
"""

from components import (
    expression,
    gene_card,
    gene_filter,
    genotype,
    ism_eqtl,
    ism_logo,
    locus,
    models,
    search,
    sensitivity,
    tss_hist,
    volcano,
)

# Views whose render(datasets, selection) builds what one gene switch shows.
GENE_VIEWS = [gene_card, expression, ism_eqtl, locus, tss_hist, genotype, ism_logo]
# Views over all genes of the filter bar's subset.
GENE_SET_VIEWS = [volcano, sensitivity, models]
ALL_VIEWS = [search, gene_filter, *GENE_SET_VIEWS, *GENE_VIEWS]
# Panels that follow the selection alone, each group drawn by one callback (components/export.py
# register_selection_views: one request a group on a gene switch): the SNV views share a gene's SNV
# table, the people views its people and dosages; two groups, so one tab's switch still spreads
# over two server processes.
SELECTION_PANEL_GROUPS = [[ism_eqtl.PANEL, locus.PANEL], [expression.PANEL, genotype.PANEL, ism_logo.PANEL]]
# Panels over the filter bar's genes that a gene switch patches, each group drawn by one callback
# (components/export.py register_gene_set_panels); the volcano on its own: its full figure (every
# gene) is most of a first page, which the other group draws meanwhile.
PATCHED_PANEL_GROUPS = [[volcano], [sensitivity, tss_hist]]
