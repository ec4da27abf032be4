"""The model engine: Enformer loading and scoring, ISM and gradients, prefetching, track heads."""
