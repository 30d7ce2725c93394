"""Doses: record one or a batch, amend, void."""
