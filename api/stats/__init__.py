"""Statistics, from the statistics projection."""
