"""Analyses on top of the engine and the store: sensitivity, motifs, ISM logos, CNN, fine-tuning."""
