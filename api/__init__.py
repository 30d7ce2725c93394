"""The HTTP service: parse, authenticate, authorise, call the ledger or the projections, map errors."""
