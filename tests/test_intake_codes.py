"""Outside systems' codes are translated by one shared table each: a mapping names the table
instead of copying it, and every code in a table lands on a vaccine the ledger knows."""

from __future__ import annotations

import pytest

from intake import codes
from intake.retro import parse_mapping
from intake.retro.mapping import MappingError, mapping_from
from intake.retro.mappings import SYNTHEA
from ledger.catalog import vaccine_catalog


def test_every_cvx_code_names_a_vaccine_in_the_catalog():
    catalog = vaccine_catalog()
    assert codes.cvx(), "the CVX table is shipped"
    unknown = {cvx: code for cvx, code in codes.cvx().items() if catalog.lookup(code) is None}
    assert unknown == {}


def test_the_shipped_synthea_mapping_reads_vaccines_through_the_shared_cvx_table():
    mapping = parse_mapping(str(SYNTHEA))
    assert mapping is not None
    assert mapping.values["vaccine"] == codes.cvx()
    assert mapping.values["vaccine"]["208"] == "EU/1/20/1528"  # Comirnaty


def test_a_mapping_naming_a_table_that_does_not_exist_is_refused_naming_the_field():
    with pytest.raises(MappingError, match=r"values\.vaccine: no shared code table named 'icd'"):
        mapping_from({"columns": {"CODE": "vaccine"}, "values": {"vaccine": "icd"}})


def test_a_province_is_found_by_its_name_as_people_write_it():
    names = codes.province_names()
    assert names["hanoi"] == names["thanhphohanoi"] == "01"
    assert names["tphcm"] == "79"
