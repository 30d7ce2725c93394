"""Citizens' correction requests."""
