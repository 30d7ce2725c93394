"""Vietnamese names into the EU DCC's family/given names and their ICAO 9303 forms."""

from __future__ import annotations

import unicodedata

import pytest

from ledger.icao import MAX_LENGTH, NameParts, split_name, transliterate

# Every tone (ngang, huyền, sắc, hỏi, ngã, nặng) on every vowel letter, with ă â ê ô ơ ư đ.
NAMES = [
    ("Nguyễn Thị Hương", "Nguyễn", "Thị Hương", "NGUYEN", "THI<HUONG"),
    ("Trần Văn Đức", "Trần", "Văn Đức", "TRAN", "VAN<DUC"),
    ("Lê Hoàng Ánh", "Lê", "Hoàng Ánh", "LE", "HOANG<ANH"),
    ("Phạm Quốc Bảo", "Phạm", "Quốc Bảo", "PHAM", "QUOC<BAO"),
    ("Hoàng Thị Thu Thủy", "Hoàng", "Thị Thu Thủy", "HOANG", "THI<THU<THUY"),
    ("Huỳnh Ngọc Ẩn", "Huỳnh", "Ngọc Ẩn", "HUYNH", "NGOC<AN"),
    ("Võ Thị Mỹ Dung", "Võ", "Thị Mỹ Dung", "VO", "THI<MY<DUNG"),
    ("Đặng Tuấn Kiệt", "Đặng", "Tuấn Kiệt", "DANG", "TUAN<KIET"),
    ("Bùi Thị Ơn", "Bùi", "Thị Ơn", "BUI", "THI<ON"),
    ("Đỗ Ưng Hoà", "Đỗ", "Ưng Hoà", "DO", "UNG<HOA"),
    ("Hồ Thị Ờ Ớ Ở Ỡ Ợ", "Hồ", "Thị Ờ Ớ Ở Ỡ Ợ", "HO", "THI<O<O<O<O<O"),
    ("Dương Ừ Ứ Ử Ữ Ự", "Dương", "Ừ Ứ Ử Ữ Ự", "DUONG", "U<U<U<U<U"),
    ("Lý Ằ Ắ Ẳ Ẵ Ặ", "Lý", "Ằ Ắ Ẳ Ẵ Ặ", "LY", "A<A<A<A<A"),
    ("Mạc Ầ Ấ Ẩ Ẫ Ậ", "Mạc", "Ầ Ấ Ẩ Ẫ Ậ", "MAC", "A<A<A<A<A"),
    ("Tô Ề Ế Ể Ễ Ệ", "Tô", "Ề Ế Ể Ễ Ệ", "TO", "E<E<E<E<E"),
    ("Ông Ồ Ố Ổ Ỗ Ộ", "Ông", "Ồ Ố Ổ Ỗ Ộ", "ONG", "O<O<O<O<O"),
    ("Ì Í Ỉ Ĩ Ị", "Ì", "Í Ỉ Ĩ Ị", "I", "I<I<I<I"),
    ("Ỳ Ý Ỷ Ỹ Ỵ", "Ỳ", "Ý Ỷ Ỹ Ỵ", "Y", "Y<Y<Y<Y"),
    ("Ù Ú Ủ Ũ Ụ", "Ù", "Ú Ủ Ũ Ụ", "U", "U<U<U<U"),
    ("Trương Nguyễn-Minh Khoa", "Trương", "Nguyễn-Minh Khoa", "TRUONG", "NGUYEN<MINH<KHOA"),
    ("lưu đình   giáp", "lưu", "đình giáp", "LUU", "DINH<GIAP"),
]


@pytest.mark.parametrize(("full", "family", "given", "family_icao", "given_icao"), NAMES)
def test_a_vietnamese_name_splits_and_transliterates(
    full: str, family: str, given: str, family_icao: str, given_icao: str
) -> None:
    parts = split_name(full)
    assert parts == NameParts(family=family, given=given)
    assert parts.family_icao == family_icao
    assert parts.given_icao == given_icao


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_decomposed_input_gives_the_same_names(form: str) -> None:
    parts = split_name(unicodedata.normalize(form, "Nguyễn Thị Hương"))
    assert parts.family == "Nguyễn" and unicodedata.is_normalized("NFC", parts.family)
    assert (parts.family_icao, parts.given_icao) == ("NGUYEN", "THI<HUONG")


def test_a_one_word_name_has_a_family_name_only() -> None:
    parts = split_name("  Hương ")
    assert parts == NameParts(family="Hương", given=None)
    assert parts.given_icao is None
    assert parts.family_icao == "HUONG"


def test_an_empty_name_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="full_name"):
        split_name(" \t ")


def test_anything_outside_a_to_z_is_dropped() -> None:
    assert transliterate("Nguyễn (Jr.) 2nd, O'Brien") == "NGUYEN<JR<ND<OBRIEN"
    assert transliterate("-Hương-") == "HUONG"


def test_the_machine_readable_form_is_at_most_80_characters() -> None:
    long_name = " ".join(["Hương"] * 30)
    result = transliterate(long_name)
    assert len(result) <= MAX_LENGTH
    assert result.startswith("HUONG<HUONG") and not result.endswith("<")
    assert set(result) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ<")
