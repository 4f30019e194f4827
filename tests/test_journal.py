"""The journal: append-only, hash-chained, never blocking, never losing a row."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from controller.journal import Journal, activations, export_csv, read_rows, verify
from tests.conftest import real_disk


def _journal(directory, on_fault=None) -> Journal:
    return Journal(directory / "journal.sqlite", on_fault,
                   key_path=directory / "key" / "journal.key")


def _filled(tmp_path, n=5) -> Journal:
    journal = _journal(tmp_path)
    journal.open()
    journal.append("triggered", "fire-1", scenario="fire", drill=True, source="operator", origin="u")
    for i in range(n):
        journal.append("output", output=f"o{i}", on=True, ok=True)
    journal.append("cleared", "fire-1", by="u")
    assert journal.flush()
    return journal


def test_rows_chain_and_verify(tmp_path):
    journal = _filled(tmp_path)
    journal.close()
    result = verify(journal.path)
    assert result.ok, result.problems
    assert result.count == 8  # the segment's first row, then the seven
    db = sqlite3.connect(journal.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    summary = activations(read_rows(journal.path))
    assert summary[0]["outcome"] == "cleared" and summary[0]["drill"] is True
    assert "fire-1" in "".join(export_csv(journal.path))


def test_journal_refuses_update_and_delete(tmp_path):
    journal = _filled(tmp_path)
    journal.close()
    db = sqlite3.connect(journal.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE events SET kind='x' WHERE seq=1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM events WHERE seq=7")


def test_verify_finds_an_edited_row(tmp_path):
    journal = _filled(tmp_path)
    journal.close()
    db = sqlite3.connect(journal.path)
    db.execute("DROP TRIGGER events_no_update")
    db.execute("""UPDATE events SET data='{"drill": false}' WHERE seq=2""")
    db.commit()
    db.close()
    result = verify(journal.path)
    assert not result.ok and result.first_bad == 2
    assert any("row 2: contents were changed" in p for p in result.problems), result.problems


def test_verify_finds_rows_cut_off_the_end(tmp_path):
    journal = _filled(tmp_path)
    journal.close()
    db = sqlite3.connect(journal.path)
    db.execute("DROP TRIGGER events_no_delete")
    db.execute("DELETE FROM events WHERE seq >= 6")
    db.commit()
    db.close()
    result = verify(journal.path)
    assert not result.ok
    assert any("were cut off" in p for p in result.problems), result.problems


def test_verify_finds_a_truncated_file(tmp_path):
    journal = _filled(tmp_path, n=300)
    journal.close()
    size = journal.path.stat().st_size
    with open(journal.path, "r+b") as fh:
        fh.truncate(size // 2)
    result = verify(journal.path)
    assert not result.ok and result.first_bad is not None, result.problems


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 512 KiB filesystem, so a full disk is a full disk (needs root)."""
    yield from real_disk(tmp_path, "512k")


def _fill(directory) -> None:
    with open(directory / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"x" * 4096)
        except OSError:
            pass


def test_a_full_disk_raises_a_fault_and_loses_nothing(tiny_disk):
    faults: list[str | None] = []
    changed = threading.Event()

    def on_fault(message):
        faults.append(message)
        changed.set()

    journal = _journal(tiny_disk, lambda key, code, params: on_fault(code and params))
    journal.open()
    journal.append("first")
    assert journal.flush()
    _fill(tiny_disk)
    big = "ы" * 2000
    for i in range(20):
        journal.append("during-outage", "a1", n=i, payload=big)
    assert changed.wait(10), "a write failure must raise a fault"
    assert faults[-1] and "spill" in faults[-1]
    assert journal.backlog == 20
    assert len([f for f in faults if f]) == 1, "the outage is reported once"
    changed.clear()
    (tiny_disk / "filler").unlink()
    assert journal.flush(timeout=30), "rows kept in memory are written when the disk has room"
    assert changed.wait(10) and faults[-1] is None
    journal.close()
    rows = [r for r in read_rows(journal.path) if r.kind != "segment"]
    assert [r.kind for r in rows] == ["first"] + ["during-outage"] * 20
    assert [r.data["n"] for r in rows[1:]] == list(range(20))
    assert verify(journal.path).ok


def test_a_damaged_file_is_moved_aside_and_never_overwritten(tmp_path):
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes()
    faults = []
    journal = _journal(tmp_path, lambda key, code, params: faults.append((key, code, params)))
    journal.open()
    journal.append("triggered", "fire-1")
    assert journal.flush(5), "the journal goes on in a new file"
    journal.close()
    assert [f[:2] for f in faults] == [("notice:journal:damaged", "journal_damaged")]
    moved = list(tmp_path.glob("journal.sqlite.damaged-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == before
    assert [r.kind for r in read_rows(path)] == ["segment", "journal_damaged", "triggered"]


async def test_journal_queries_never_wait_for_the_alarms_executor(running):
    """Issue 10, case 4: journal reads run on the journal's own reader worker. With every
    thread of the default executor (the one audio and devices use) busy, the console still
    gets its page; and a page is a page, not the whole journal."""
    import asyncio

    from controller import api

    controller, events = running
    for scenario in ("collapse", "shooting", "explosion"):
        act = await controller.engine.trigger(scenario, source="operator", origin="t", drill=True)
        controller.engine.clear(act.id, "t")
    assert await asyncio.to_thread(controller.journal.flush, 5)
    loop = asyncio.get_running_loop()
    release = threading.Event()
    busy = [loop.run_in_executor(None, release.wait, 30) for _ in range(64)]
    try:
        async with asyncio.timeout(10):
            reply = await controller.handle(api.JournalQuery(op="journal", limit=2), "t")
    finally:
        release.set()
        await asyncio.gather(*busy)
    assert len(reply["activations"]) == 2 and reply["next_before"]
    older = await controller.handle(
        api.JournalQuery(op="journal", limit=2, before=reply["next_before"]), "t")
    assert older["activations"] and older["activations"][0]["activation"] not in {
        a["activation"] for a in reply["activations"]}
