"""Operational drills: the failover of the ledger's PostgreSQL primary, rehearsed end to end."""
