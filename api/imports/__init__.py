"""Retro imports of spreadsheets of past doses."""
