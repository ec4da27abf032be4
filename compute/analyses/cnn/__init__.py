"""The CNN baseline: a small convolutional network trained on reference windows."""
