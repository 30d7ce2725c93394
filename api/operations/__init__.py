"""Operations: projection status, liveness, metrics."""
