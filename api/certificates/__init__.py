"""Certificates, from the certificates projection."""
