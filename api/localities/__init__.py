"""The locality lists: the people of a province or district, by vaccination status."""
