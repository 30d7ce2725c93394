"""FHIR R4: a person's record as Patient and Immunization resources, and Immunizations in.

`resources.py` writes the ledger's doses as FHIR; `bundle.py` reads a posted Bundle into dose
reports, voids and the issues found (each naming its FHIR path); `validation.py` checks a
resource against the R4 model (fhir.resources' R4B package, whose Patient, Immunization and
Bundle are R4's).
"""
