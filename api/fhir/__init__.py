"""FHIR R4: $everything, the Immunization search, transaction Bundles in."""
