"""The site directory and its review queue."""
