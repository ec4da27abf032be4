"""Fine-tuning on personal genomes: training data, training, evaluation."""
