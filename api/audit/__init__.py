"""Audit: a record's history from the stored events (JSON and the auditor's pages), the access log."""
