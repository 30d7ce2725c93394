"""The public keys that verify this deployment's certificates: the DSC trust list and the JWKS."""
