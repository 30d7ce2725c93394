"""Tokens, managed over HTTP by an admin: create, list, rotate, revoke."""
