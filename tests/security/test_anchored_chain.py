"""An anchored chain: keyed digests and signed anchors outside the database catch what a chain
alone cannot. Each tampering done with SQL on each store, then `verify_all` against the latest
anchor; the finding names the stream and the kind.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from unittest import mock
from uuid import UUID

import pytest

from ledger import chain
from ledger.chain import GENESIS, chain_digest, event_data, is_keyed
from replay import verify_all
from replay.anchoring import take_anchor
from replay.fold import Decoded
from replay.integrity import KeyedSince
from store.anchors import AnchorFolder, Head, merkle_root, signing_key
from store.event_store import stored_digest
from store.secrets import MissingSecret, Secrets
from tests.stored_rows import StoredRows
from tests.test_ledger import dose, lan
from usecases.application import DoseLedger
from usecases.chain_key import ForeignChainSecret, holds_keyed_digests


@pytest.fixture
def folder(tmp_path) -> AnchorFolder:
    return AnchorFolder(tmp_path / "anchors")


@pytest.fixture
def people(ledger) -> list[UUID]:
    """Three people, each registered (version 1) with three doses (versions 2 to 4)."""
    found = []
    for i in range(3):
        pid = ledger.register_person(lan(national_id=f"00118501234{i}", phone=f"091234567{i}")).person_id
        for n, day in enumerate(["2021-03-01", "2021-04-01", "2021-05-01"]):
            dose(ledger, pid, f"R{i}-{n}", administered_at=day)
        found.append(pid)
    return found


@pytest.fixture
def anchored(ledger, people, folder):
    """The store of `people`, anchored; yields the person whose stream is tampered with."""
    take_anchor(ledger, folder, Secrets.from_env())
    return people[1]


def differences(ledger, folder) -> list[tuple[str, str, str, int]]:
    report = verify_all(ledger, anchors=folder)
    assert report["consistent"] == (not report["differences"])
    return sorted((d["stream_id"], d["kind"], d["finding"], d["version"]) for d in report["differences"])


def rechain(ledger, rows: StoredRows, stream: UUID, keyed: bool, from_version: int = 1) -> None:
    """Recompute the stream's digests from `from_version` on, as someone who knows the scheme
    (with the chain secret in force, or plain sha256) and rewrites them with SQL."""
    events = list(ledger.events.get(stream))
    previous = GENESIS if from_version == 1 else events[from_version - 2].digest
    for event in events[from_version - 1 :]:
        topic, state = rows.row(stream, event.originator_version)
        digest = chain_digest(
            previous,
            stream,
            event.originator_version,
            topic,
            event.timestamp,
            event_data(event),
            type(event),
            keyed=keyed,
        )
        rows.put_state(stream, event.originator_version, json.dumps({**state, "digest": digest}).encode())
        previous = digest


def test_new_events_carry_keyed_digests(ledger, people, rows):
    for version in range(1, 5):
        _, state = rows.row(people[0], version)
        assert is_keyed(state["digest"]) and len(state["digest"]) == len("h1:") + 64


def test_a_clean_store_verifies_clean_against_its_anchor_and_after_more_events(ledger, anchored, folder):
    report = verify_all(ledger, anchors=folder)
    assert report["consistent"], report["differences"]
    assert "anchor" in report["checked"] and report["anchor"]["streams"] == report["streams"]
    assert report["anchor"]["position"] == ledger.head()
    dose(ledger, anchored, "LATER", administered_at="2021-09-01")  # appended after the anchor
    assert differences(ledger, folder) == []


def test_with_no_anchor_verify_says_so_and_still_checks_the_chain(ledger, people, folder, rows):
    report = verify_all(ledger, anchors=folder)
    assert report["consistent"] and report["anchor"] is None and "anchor" not in report["checked"]
    assert "no anchor" in report["notes"][0]
    rows.edit(people[0], 2, lot="EDITED")
    assert differences(ledger, folder) == [(str(people[0]), "integrity", "altered", 2)]


def test_a_deleted_stream_is_reported_deleted(ledger, anchored, folder, rows):
    rows._sql("DELETE FROM {t} WHERE originator_id=?", rows.key(anchored))
    assert differences(ledger, folder) == [(str(anchored), "anchor", "deleted", 4)]


def test_removed_last_events_are_reported_truncated(ledger, anchored, folder, rows):
    rows.delete(anchored, 4)
    rows.delete(anchored, 3)
    assert differences(ledger, folder) == [(str(anchored), "anchor", "truncated", 4)]


def test_an_edited_event_breaks_the_chain(ledger, anchored, folder, rows):
    rows.edit(anchored, 2, lot="EDITED")
    assert differences(ledger, folder) == [(str(anchored), "integrity", "altered", 2)]


def test_an_inserted_event_is_reported_inserted(ledger, anchored, folder, rows):
    rows.insert(anchored, 5, *rows.row(anchored, 4))
    assert differences(ledger, folder) == [(str(anchored), "integrity", "inserted", 5)]


def test_a_stream_rechained_with_plain_sha256_is_reported_rechained(ledger, anchored, folder, rows):
    """Every row consistent under the old unkeyed rule: the anchor tells, and so do the plain
    digests stored after the store's first keyed one."""
    rechain(ledger, rows, anchored, keyed=False)
    assert differences(ledger, folder) == [
        (str(anchored), "anchor", "rechained", 4),
        (str(anchored), "integrity", "downgraded", 4),
    ]


def test_a_stream_rechained_plain_throughout_is_downgraded_without_an_anchor(ledger, people, rows):
    """Its own chain is consistent plain sha256; but the store keyed digests before those rows."""
    rechain(ledger, rows, people[2], keyed=False)
    report = verify_all(ledger)
    assert [
        (d["stream_id"], d["stream_type"], d["finding"], d["version"]) for d in report["differences"]
    ] == [(str(people[2]), "Person", "downgraded", 4)]
    assert "after the store's first keyed digest" in report["differences"][0]["detail"]


def test_a_stream_rechained_with_another_key_breaks_the_chain_and_the_anchor(ledger, anchored, folder, rows):
    with mock.patch.object(chain, "_chain_key", b"k" * 32):
        rechain(ledger, rows, anchored, keyed=True)
    found = differences(ledger, folder)
    assert (str(anchored), "anchor", "rechained", 4) in found
    assert {(f[0], f[1], f[2]) for f in found} == {
        (str(anchored), "integrity", "altered"),
        (str(anchored), "anchor", "rechained"),
    }


def test_a_chain_switched_from_keyed_back_to_plain_is_a_finding(ledger, people, rows):
    """No anchor needed: the ledger never writes a plain digest after a keyed one."""
    rechain(ledger, rows, people[2], keyed=False, from_version=3)
    found = differences(ledger, None)
    assert (str(people[2]), "integrity", "downgraded", 3) in found
    assert (str(people[2]), "integrity", "downgraded", 4) in found
    assert {f[0] for f in found} == {str(people[2])}


def test_an_anchor_whose_heads_were_edited_fails_its_merkle_root(ledger, anchored, folder):
    path = folder.directory / folder.names()[-1]
    body = json.loads(path.read_text())
    body["heads"] = [h for h in body["heads"] if h[0] != str(anchored)]  # hide a stream
    path.write_text(json.dumps(body))
    found = verify_all(ledger, anchors=folder)["differences"]
    assert {(d["stream_id"], d["kind"], d["finding"]) for d in found} == {("", "anchor", "anchor")}
    assert any("Merkle root does not follow" in d["detail"] for d in found)


def test_an_anchor_rewritten_without_the_signing_key_fails_its_signature(ledger, anchored, folder):
    path = folder.directory / folder.names()[-1]
    body = json.loads(path.read_text())
    body["heads"] = [h for h in body["heads"] if h[0] != str(anchored)]
    heads = [Head(*h) for h in body["heads"]]
    body["merkle_root"], body["streams"] = merkle_root(heads), len(heads)
    path.write_text(json.dumps(body))
    found = verify_all(ledger, anchors=folder)["differences"]
    assert [(d["stream_id"], d["finding"]) for d in found] == [("", "anchor")]
    assert "signature does not verify" in found[0]["detail"]


def test_an_anchor_signed_with_another_key_and_its_public_key_swapped_is_a_finding(
    ledger, anchored, folder, tmp_path
):
    forger = AnchorFolder(tmp_path / "forged")
    take_anchor(ledger, forger, Secrets(tmp_path / "forger-secrets"))
    for name in folder.names():
        (folder.directory / name).unlink()
    folder.public_key_path.unlink()
    for path in forger.directory.iterdir():
        (folder.directory / path.name).write_bytes(path.read_bytes())
    found = verify_all(ledger, anchors=folder)["differences"]
    assert [(d["stream_id"], d["finding"]) for d in found] == [("", "anchor")]
    assert "not this deployment's anchor key" in found[0]["detail"]


def test_an_anchor_holds_a_consistent_read_signed_over_its_merkle_root(ledger, anchored, folder):
    anchor = folder.latest()
    assert anchor is not None and anchor.name.startswith("anchor-") and anchor.name.endswith(".json")
    last = {}  # each stream's last record, from a full scan: what the heads' one query must give
    for record in ledger.recorder.scan_streams():
        last[str(record.originator_id)] = record
    assert anchor.position == ledger.head()
    assert [(h.stream_id, h.version) for h in anchor.heads] == sorted(
        (sid, r.originator_version) for sid, r in last.items()
    )
    assert all(h.digest == stored_digest(ledger.mapper, last[h.stream_id].state) for h in anchor.heads)
    person = anchor.heads_by_stream()[str(anchored)]
    assert person.version == 4 and is_keyed(person.digest)
    public = folder.public_key()
    assert public is not None
    public.verify(base64.b64decode(anchor.signature), anchor.signed_bytes())
    assert anchor.merkle_root == merkle_root(anchor.heads)


def test_anchors_are_new_files_never_overwritten(ledger, anchored, folder):
    first = folder.names()
    second = take_anchor(ledger, folder, Secrets.from_env())
    assert folder.names() == [*first, second.name] and second.name > first[-1]
    assert not [p for p in folder.directory.iterdir() if p.name.endswith(".tmp")]


def test_a_large_anchor_is_compressed_and_reads_back(ledger, anchored, folder):
    with mock.patch("store.anchors.COMPRESS_FROM", 2):
        anchor = take_anchor(ledger, folder, Secrets.from_env())
    assert anchor.name.endswith(".json.gz")
    assert folder.latest() == anchor
    assert verify_all(ledger, anchors=folder)["consistent"]


def test_the_merkle_root_is_a_tree_of_hashes_over_the_sorted_heads():
    a, b, c = Head("a", 1, "x"), Head("b", 2, "y"), Head("c", 3, "z")

    def leaf(h: Head) -> bytes:
        return hashlib.sha256(b"\x00" + f"{h.stream_id}\n{h.version}\n{h.digest}".encode()).digest()

    def node(left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + left + right).digest()

    assert merkle_root([]) == hashlib.sha256(b"").hexdigest()
    assert merkle_root([a]) == leaf(a).hex()
    assert merkle_root([c, a, b]) == node(node(leaf(a), leaf(b)), leaf(c)).hex()
    assert merkle_root([a, b, c]) != merkle_root([a, b, Head("c", 3, "w")])


def test_the_signing_key_comes_from_the_anchor_secret(tmp_path):
    secrets = Secrets(tmp_path)
    seed = secrets.key("anchor", create=True)
    assert signing_key(seed).public_key() == signing_key(Secrets(tmp_path).key("anchor")).public_key()


def test_a_keyed_store_without_its_chain_secret_is_a_clear_error_never_a_new_secret(
    ledger, people, store_url, tmp_path
):
    empty = tmp_path / "restored-without-secrets"
    empty.mkdir()  # ... but the ids secret, checked first (tests/test_keyed_ids.py refuses its loss)
    shutil.copy(Secrets.from_env().path("ids"), empty / "ids.key")
    with pytest.raises(MissingSecret, match="chain"):
        DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url, "DOSELEDGER_SECRETS_DIR": str(empty)})
    assert not Path(empty, "chain.key").exists()


def test_a_store_chained_before_the_secret_keeps_verifying_and_goes_on_keyed(
    ledger, people, rows, folder, store_url
):
    for stream in {r.originator_id for r in ledger.recorder.scan_streams()}:
        rechain(ledger, rows, stream, keyed=False)  # as the ledger wrote it before digests were keyed
    assert not holds_keyed_digests(ledger.recorder, ledger.mapper)
    assert differences(ledger, folder) == []
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url}) as upgraded:
        dose(upgraded, people[0], "AFTER", administered_at="2021-09-01")  # the next one is keyed
    _, state = rows.row(people[0], 5)
    assert is_keyed(state["digest"])
    assert holds_keyed_digests(ledger.recorder, ledger.mapper)
    assert differences(ledger, folder) == []


def test_an_empty_store_holds_no_keyed_digests(ledger):
    assert not holds_keyed_digests(ledger.recorder, ledger.mapper)


def test_ledgers_on_one_secrets_folder_share_the_one_chain_key(ledger, store_url, tmp_path):
    """The domain keys digests per process: a second ledger with the same secret changes
    nothing; one on another folder (a tool, a test) replaces it, and says so."""
    own = Secrets.from_env().key("chain")
    assert chain._chain_key == own
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url}):
        assert chain._chain_key == own
    assert chain.use_chain_key(own) is False
    other = Secrets(tmp_path / "other").key("chain", create=True)
    try:
        assert chain.use_chain_key(other) is True and chain._chain_key == other
    finally:
        chain.use_chain_key(own)


def test_an_unreadable_latest_anchor_is_a_finding(ledger, anchored, folder):
    path = folder.directory / folder.names()[-1]
    path.write_bytes(path.read_bytes()[:-20])  # cut short
    report = verify_all(ledger, anchors=folder)
    assert [(d["stream_id"], d["finding"]) for d in report["differences"]] == [("", "anchor")]
    assert "cannot be read" in report["differences"][0]["detail"] and report["anchor"] is None


def test_an_anchor_without_its_public_key_beside_it_is_a_finding(ledger, anchored, folder):
    folder.public_key_path.unlink()
    found = verify_all(ledger, anchors=folder)["differences"]
    assert [(d["stream_id"], d["finding"]) for d in found] == [("", "anchor")]
    assert "no public key" in found[0]["detail"]


def test_a_plain_stream_is_found_whatever_order_the_streams_are_scanned_in():
    """Streams are scanned in id order, not position order: the store's first keyed digest may
    turn up after a plain stream that lies beyond it."""

    def stream(stream_id: int, position: int, digest: str) -> list[Decoded]:
        record = SimpleNamespace(originator_id=UUID(int=stream_id), originator_version=1, position=position)
        return [Decoded(record, SimpleNamespace(digest=digest))]  # type: ignore[arg-type]  # a stand-in row

    keyed, plain = "h1:" + "a" * 64, "b" * 64
    seen = KeyedSince()
    seen.stream(stream(1, 100, keyed), "Person")
    seen.stream(stream(2, 50, plain), "Person")  # after the first keyed digest (10), seen next
    seen.stream(stream(3, 10, keyed), "Person")
    seen.stream(stream(4, 5, plain), "Person")  # before it: an old stream, not a finding
    assert [(s, f.kind, f.position) for s, _, f in seen.findings()] == [(UUID(int=2), "downgraded", 50)]


def test_another_chain_secret_is_refused_at_the_start_and_nothing_is_written(
    ledger, people, store_url, tmp_path
):
    other = tmp_path / "another-deployment"
    other.mkdir()
    shutil.copy(Secrets.from_env().path("ids"), other / "ids.key")  # the ids secret is right
    shutil.copy(Secrets.from_env().path("data"), other / "data.key")
    Secrets(other).key("chain", create=True)  # the chain's is not
    head = ledger.head()
    with pytest.raises(ForeignChainSecret, match="chain.key' in .* is not the one this store's events"):
        DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url, "DOSELEDGER_SECRETS_DIR": str(other)})
    assert ledger.head() == head
    with DoseLedger(env={"DOSELEDGER_DATABASE_URL": store_url}) as again:  # the right one still starts
        assert again.head() == head
