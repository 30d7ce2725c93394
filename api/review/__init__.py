"""The review queues: possible duplicates (and two records side by side), data-quality flags and
their resolution, provisional sites to review."""
