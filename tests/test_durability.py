"""Nothing lost: every acknowledged action survives kill -9, a full disk, damage to the
journal's files, and a start on a long history (issue 12, cases 1–4).

Each test runs `dabyl serve` as a real process, kills it with SIGKILL right after a
reply, damages the files as a crash, a disk or a person would, and starts it again.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
from pathlib import Path

import pytest

from controller.client import Client
from tests.conftest import make_site, real_disk
from tests.test_cli import Serve, dabyl


def new_journal(directory: Path, **options):
    """A signed journal in `directory`, its key in a directory of its own."""
    from controller.journal import Journal

    return Journal(directory / "journal.sqlite", key_path=directory / "key" / "journal.key",
                   **options)


def _socket(site: Path) -> Path:
    return site.parent / "dabyl.sock"


def request(site: Path, op: str, **fields):
    with Client(_socket(site)) as client:
        return client.request(op, **fields)


def status(site: Path) -> dict:
    return request(site, "status")["status"]


def journal_file(site: Path) -> Path:
    import tomllib

    return Path(tomllib.loads(site.read_text())["control"]["journal"])


@contextlib.contextmanager
def write_lock(path: Path):
    """Another process holds the journal's write lock (a backup tool, a stuck disk):
    nothing the controller appends can reach the database meanwhile."""
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


def kinds(site: Path) -> list[str]:
    out = dabyl(site, "journal", "export", "--format", "csv")
    assert out.returncode == 0, out.stderr
    return [line.split(",")[2] for line in out.stdout.splitlines()[1:] if line.count(",") >= 3]


@pytest.fixture
def site(tmp_path, audio_cache) -> Path:
    return make_site(tmp_path, audio_cache)


# -- case 1: every state-changing request replies only when its row is durable ----------

def test_every_acknowledged_action_survives_kill_9(site):
    serve = Serve(site)
    try:
        drill = request(site, "trigger", scenario="collapse", drill=True)["activation"]
        request(site, "clear", activation=drill)
        fire = request(site, "trigger", scenario="fire")["activation"]
        phone = request(site, "trigger", scenario="phone_threat")["activation"]
        blast = request(site, "trigger", scenario="explosion")["activation"]
        with write_lock(journal_file(site)):
            replies = [
                request(site, "silence", activation=fire),
                request(site, "tick", activation=fire, role="staff", item=0),
                request(site, "tick", activation=fire, role="leader", item=2),
                request(site, "form", activation=phone, answers={"caller": "мужской, спокойный"}),
                request(site, "clear", activation=blast),
                request(site, "briefing", person="Ахметов Ерлан", by="Сейітов Б."),
                request(site, "drill_record", activation=drill, participants=12),
                request(site, "threat_level", level="raised"),
            ]
            serve.kill9()  # right after the last reply, with nothing committed meanwhile
        serve = Serve(site)
        now = {a["id"]: a for a in status(site)["activations"]}
        assert blast not in now, "an acknowledged clear came back after kill -9"
        assert now[fire]["silenced"], "an acknowledged silence was lost"
        assert now[fire]["ticks"] == {"staff": [0], "leader": [2]}
        assert now[phone]["answers"] == {"caller": "мужской, спокойный"}
        assert status(site)["threat_level"] == "raised"
        for reply in replies:
            assert reply["ok"]
            assert reply.get("journaled") is False, "the reply must say it is not journaled"
    finally:
        serve.stop()
    rows = kinds(site)
    assert rows.count("briefing") == 1 and rows.count("drill_record") == 1
    assert rows.count("silenced") == 1, "a spilled row is replayed once, never twice"
    verify = dabyl(site, "journal", "verify")
    assert verify.returncode == 0, verify.stdout


def test_state_is_restored_exactly_after_sigterm_and_kill_9(site):
    serve = Serve(site)
    try:
        fire = request(site, "trigger", scenario="fire")["activation"]
        request(site, "tick", activation=fire, role="staff", item=1)
        request(site, "tick", activation=fire, role="staff", item=3)
        request(site, "tick", activation=fire, role="staff", item=1, done=False)
        reply = request(site, "silence", activation=fire)
        assert reply["journaled"] is True
        before = {a["id"]: a for a in status(site)["activations"]}[fire]
        serve.kill9()
        serve = Serve(site)
        after = {a["id"]: a for a in status(site)["activations"]}[fire]
        assert after["silenced"] and after["ticks"] == {"staff": [3], "leader": []}
        assert after["started"] == before["started"]
        assert after["elapsed_s"] >= before["elapsed_s"]
        assert serve.stop() == 0
        serve = Serve(site)
        again = {a["id"]: a for a in status(site)["activations"]}[fire]
        assert again["silenced"] and again["ticks"] == {"staff": [3], "leader": []}
    finally:
        serve.stop()


# -- case 2: a full disk -------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A real 2 MiB filesystem, so a full disk is a full disk (needs root; CI is root)."""
    yield from real_disk(tmp_path, "2m")


def _fill(directory: Path) -> None:
    with open(directory / "filler", "wb", buffering=0) as fh:
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"x" * 4096)


def test_a_full_disk_keeps_acknowledged_alarms(tmp_path, audio_cache, small_disk):
    def on_disk(cfg):
        cfg["control"]["journal"] = str(small_disk / "journal.sqlite")

    site = make_site(tmp_path, audio_cache, change=on_disk)
    serve = Serve(site)
    try:
        _fill(small_disk)
        trig = dabyl(site, "trigger", "fire")
        fire = trig.stdout.strip()
        assert fire.startswith("fire-")
        assert trig.returncode == 1, "an alarm that is not journaled is not a silent success"
        assert "not in the journal" in trig.stderr
        serve.kill9()
        (small_disk / "filler").unlink()
        serve = Serve(site)
        assert fire in {a["id"] for a in status(site)["activations"]}
        # SIGTERM while the journal cannot be written: the rows wait in the spill file.
        _fill(small_disk)
        blast = request(site, "trigger", scenario="explosion")
        assert blast["journaled"] is False
        assert serve.stop() == 0
        (small_disk / "filler").unlink()
        serve = Serve(site)
        assert blast["activation"] in {a["id"] for a in status(site)["activations"]}
    finally:
        serve.stop()
    assert kinds(site).count("triggered") == 2
    verify = dabyl(site, "journal", "verify")
    assert verify.returncode == 0, verify.stdout


def test_an_unwritable_head_never_writes_a_row_twice(tmp_path):
    from controller.journal import read_rows

    faults = []
    path = tmp_path / "journal.sqlite"
    journal = new_journal(tmp_path, on_fault=lambda *fault: faults.append(fault))
    journal.open()
    journal.append("first")
    assert journal.flush()
    base = len(read_rows(path))
    head_tmp = path.with_name(path.name + ".head.tmp")
    head_tmp.mkdir()  # the head cannot be replaced: writes of it fail
    for i in range(5):
        journal.append("during", n=i)
    assert journal.flush(5), "the rows themselves reach the journal"
    head_tmp.rmdir()
    journal.append("after")
    assert journal.flush(5)
    journal.close()
    rows = read_rows(path)
    assert [r.data.get("n") for r in rows if r.kind == "during"] == [0, 1, 2, 3, 4]
    assert len(rows) == base + 6 + sum(r.kind == "checkpoint" for r in rows[base:])


# -- case 3: damage never costs an open alarm --------------------------------------------

def _open_fire(site: Path) -> str:
    serve = Serve(site)
    try:
        return request(site, "trigger", scenario="fire")["activation"]
    finally:
        assert serve.stop() == 0  # a clean stop: everything checkpointed into the file


def _resumed_with_a_fault(site: Path, act: str) -> dict:
    serve = Serve(site)
    try:
        now = status(site)
        assert act in {a["id"] for a in now["activations"]}, "the open alarm was lost"
        assert now["mode"] == "ALARM"
        faults = {f["key"]: f for f in now["faults"]}
        assert "notice:journal:damaged" in faults, faults
        # The fault stays until an operator acknowledges it, then goes.
        request(site, "ack", fault="notice:journal:damaged")
        assert "notice:journal:damaged" not in {f["key"] for f in status(site)["faults"]}
        return faults["notice:journal:damaged"]
    finally:
        serve.stop()


def _damaged_files(site: Path) -> list[Path]:
    return sorted(journal_file(site).parent.glob("journal.sqlite*damaged*"))


def _flip(path: Path, kind: str, at: str, byte: int) -> int:
    """Change one byte of the `kind` row's data in the file itself; returns its seq."""
    db = sqlite3.connect(path)
    seq, data = db.execute("SELECT seq, data FROM events WHERE kind=?", (kind,)).fetchone()
    db.close()
    raw = bytearray(path.read_bytes())
    where = raw.find(data.encode())
    assert where > 0
    raw[where + len(data[:data.index(at)].encode()) + 1] = byte
    path.write_bytes(bytes(raw))
    return seq


def test_one_flipped_byte_in_a_text_column(site):
    fire = _open_fire(site)
    path = journal_file(site)
    # Not UTF-8 any more: the column cannot even be decoded.
    seq = _flip(path, "triggered", '"fire"', 0xFF)
    evidence = path.read_bytes()
    fault = _resumed_with_a_fault(site, fire)
    assert "row" in fault["message"]
    moved = [p for p in _damaged_files(site) if p.name.startswith("journal.sqlite.damaged-")]
    assert moved and moved[0].read_bytes() == evidence, "evidence is moved aside, unchanged"
    verify = dabyl(site, "journal", "verify")
    assert verify.returncode == 1
    assert "damage" in verify.stdout and f"row {seq}" in verify.stdout, verify.stdout


def test_a_lost_wal_after_kill_9(site):
    first = _open_fire(site)
    serve = Serve(site)
    try:
        request(site, "clear", activation=first)
        blast = request(site, "trigger", scenario="explosion")["activation"]
        serve.kill9()
    finally:
        serve.stop()
    path = journal_file(site)
    wal = path.with_name(path.name + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    wal.unlink()
    path.with_name(path.name + "-shm").unlink(missing_ok=True)
    _resumed_with_a_fault(site, blast)
    serve = Serve(site)
    try:
        assert first not in {a["id"] for a in status(site)["activations"]}, "a cleared alarm came back"
    finally:
        serve.stop()
    verify = dabyl(site, "journal", "verify")
    assert verify.returncode == 1, "a lost WAL is never verified away by one start"


def test_a_truncated_file(site):
    fire = _open_fire(site)
    path = journal_file(site)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    _resumed_with_a_fault(site, fire)
    assert _damaged_files(site)


def test_verify_names_the_first_bad_row(site):
    _open_fire(site)
    path = journal_file(site)
    seq = _flip(path, "triggered", '"fire"', ord("F"))  # still text, still JSON: a changed fact
    verify = dabyl(site, "journal", "verify")
    assert verify.returncode == 1
    assert f"row {seq}" in verify.stdout, verify.stdout


# -- case 4: history in segments; start reads what is open, not history ------------------

def test_segments_rotate_by_size_and_verify_as_one_chain(tmp_path):
    from controller.journal import read_rows, verify

    path = tmp_path / "journal.sqlite"
    journal = new_journal(tmp_path, segment_bytes=64 * 1024)
    journal.open()
    journal.append("triggered", "fire-1", scenario="fire", drill=False, source="operator",
                   origin="u")
    for i in range(1500):
        journal.append("output", output="siren", on=bool(i % 2), ok=True, n=i)
    assert journal.flush(20)
    journal.close()
    archived = sorted(tmp_path.glob("journal.[0-9]*.sqlite"))
    assert len(archived) >= 2, "the journal goes on in segments"
    result = verify(path)
    assert result.ok, result.problems
    rows = read_rows(path)
    assert [r.data["n"] for r in rows if r.kind == "output"] == list(range(1500))
    # A start needs only the head and the newest segment: the open alarm is there.
    journal = new_journal(tmp_path, segment_bytes=64 * 1024)
    recovered = journal.open()
    journal.close()
    assert list(recovered.open_activations) == ["fire-1"]


def test_segments_rotate_each_year(tmp_path):
    from controller.journal import verify

    path = tmp_path / "journal.sqlite"
    journal = new_journal(tmp_path, timezone="Asia/Almaty")
    journal.open()
    journal.append("briefing", person="a", ts="2026-12-31T18:00:00+00:00")  # 23:00 in Almaty
    journal.append("briefing", person="b", ts="2026-12-31T19:30:00+00:00")  # 00:30, new year
    assert journal.flush()
    journal.close()
    assert len(list(tmp_path.glob("journal.[0-9]*.sqlite"))) == 1
    assert verify(path).ok


def test_journal_files_are_not_world_readable(site):
    serve = Serve(site)
    serve.stop()
    for file in journal_file(site).parent.glob("journal.sqlite*"):
        assert file.stat().st_mode & 0o007 == 0, file


def test_rows_keep_their_content_through_a_spill(tmp_path):
    """The spill file is replayed with each row's own time and data, in order."""
    from controller.journal import read_rows

    path = tmp_path / "journal.sqlite"
    journal = new_journal(tmp_path)
    journal.open()
    journal.append("first")
    assert journal.flush()
    with write_lock(path):
        for i in range(3):
            journal.append("held", "a-1", n=i, text="ы" * 10)
        assert not journal.flush(1.5)
        lost = journal.close(timeout=5)
    assert lost == 0
    journal = new_journal(tmp_path)
    recovered = journal.open()
    assert journal.flush(5)
    journal.close()
    rows = [r for r in read_rows(path) if r.kind == "held"]
    assert [r.data["n"] for r in rows] == [0, 1, 2]
    assert json.dumps(rows[0].data, ensure_ascii=False).count("ы") == 10
    assert recovered.last_row is not None


def test_sigterm_exit_code_is_zero_when_nothing_is_lost(site):
    serve = Serve(site)
    serve.proc.send_signal(signal.SIGTERM)
    assert serve.proc.wait(30) == 0
