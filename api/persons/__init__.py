"""People: register, look up, merge."""
