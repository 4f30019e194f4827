"""Records an inspector can trust (issue 13): a signed journal that tells a forger's file
from the real one, verification with the public key alone, and honest documents.

The genuine journal is written once by a real `dabyl serve`; every forgery is made on a
copy of its files with raw sqlite3, as someone with write access to the journal (but not
to the signing key) would.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from controller.client import Client
from controller.journal import GENESIS, row_hash
from tests.conftest import dabyl_env, make_site
from tests.test_cli import Serve, dabyl

FILES = ("journal.sqlite", "journal.sqlite.head", "journal.sqlite.pub", "journal.sqlite.spill")


def request(site: Path, op: str, **fields):
    with Client(site.parent / "dabyl.sock") as client:
        return client.request(op, **fields)


@pytest.fixture(scope="module")
def genuine(tmp_path_factory, audio_cache) -> dict:
    """A site's real journal: a phone threat with a fire during it, a drill with no ticks,
    a drill with ticks, all cleared; then the files as they were."""
    base = tmp_path_factory.mktemp("genuine")
    # Paced like a sound card, so a drill is still running when it is ticked.
    site = make_site(base, audio_cache, pace=1.0)
    serve = Serve(site)
    try:
        phone = request(site, "trigger", scenario="phone_threat")["activation"]
        fire = request(site, "trigger", scenario="fire")["activation"]
        request(site, "form", activation=phone, answers={"caller": "спокойный"})
        request(site, "clear", activation=fire)
        request(site, "status")  # the fire's outputs go to rest while the threat is open
        request(site, "clear", activation=phone)
        bare = request(site, "trigger", scenario="collapse", drill=True)["activation"]
        request(site, "clear", activation=bare)
        request(site, "drill_record", activation=bare, participants=7)
        ticked = request(site, "trigger", scenario="shooting", drill=True)["activation"]
        request(site, "tick", activation=ticked, role="staff", item=2)
        request(site, "tick", activation=ticked, role="staff", item=0)
        request(site, "clear", activation=ticked)
    finally:
        assert serve.stop() == 0
    return {"site": site, "dir": base, "fire": fire, "phone": phone, "bare": bare,
            "ticked": ticked}


def copy_of(genuine: dict, tmp_path: Path, audio_cache: Path) -> Path:
    """The genuine files in a site of their own, signing key included."""
    site = make_site(tmp_path, audio_cache)
    for name in FILES:
        src = genuine["dir"] / name
        if src.exists():
            shutil.copy2(src, tmp_path / name)
    if (genuine["dir"] / ".dabyl-key").exists():
        shutil.copytree(genuine["dir"] / ".dabyl-key", tmp_path / ".dabyl-key")
    return site


def rows(path: Path) -> list[list]:
    db = sqlite3.connect(path)
    out = [list(r) for r in db.execute(
        "SELECT seq, ts, kind, activation, data, prev, hash FROM events ORDER BY seq")]
    db.close()
    return out


def rewrite(path: Path, new_rows: list[list]) -> None:
    """Replace every row with `new_rows`, renumbered and chained again, and make the
    seal and the head name the new last row: a forger's best effort without the key."""
    prev = GENESIS
    for i, r in enumerate(new_rows, 1):
        r[0], r[5] = i, prev
        r[6] = prev = row_hash(i, r[1], r[2], r[3], r[4], prev)
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER events_no_delete")
    db.execute("DELETE FROM events")
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", new_rows)
    with contextlib.suppress(sqlite3.OperationalError):  # a journal from before seals
        db.execute("UPDATE seal SET seq=?, hash=?", (new_rows[-1][0], new_rows[-1][6]))
    db.commit()
    db.close()
    head = path.with_name(path.name + ".head")
    data = json.loads(head.read_text())
    data.update(seq=new_rows[-1][0], hash=new_rows[-1][6])
    head.write_text(json.dumps(data))


def verify(site: Path, *args: str) -> subprocess.CompletedProcess:
    return dabyl(site, "journal", "verify", *args)


def test_the_genuine_journal_verifies_and_names_its_key(genuine, tmp_path, audio_cache):
    site = copy_of(genuine, tmp_path, audio_cache)
    key = dabyl(site, "journal", "key")
    assert key.returncode == 0
    fingerprint = key.stdout.split("fingerprint: ")[1].split()[0]
    result = verify(site)
    assert result.returncode == 0, result.stdout
    assert f"verified, signed by {fingerprint}, rows 1.." in result.stdout
    assert (genuine["dir"] / ".dabyl-key" / "journal.key").stat().st_mode & 0o777 == 0o600


def _forged(genuine, tmp_path, audio_cache, forge) -> subprocess.CompletedProcess:
    site = copy_of(genuine, tmp_path, audio_cache)
    forge(tmp_path / "journal.sqlite", genuine)
    return verify(site)


def _edit_a_row(path: Path, g: dict) -> None:
    found = rows(path)
    for r in found:
        if r[2] == "triggered" and r[3] == g["fire"]:
            r[4] = r[4].replace('"drill": false', '"drill": true')
    rewrite(path, found)


def _cut_the_tail(path: Path, g: dict) -> None:
    rewrite(path, rows(path)[:-4])


def _remove_an_activation(path: Path, g: dict) -> None:
    rewrite(path, [r for r in rows(path) if r[3] != g["phone"]])


def _insert_a_fake_drill(path: Path, g: dict) -> None:
    found = rows(path)
    fake = [[0, found[3][1], "triggered", "fire-f00d00", json.dumps(
        {"scenario": "fire", "drill": True, "source": "operator", "origin": "inspector"}), "", ""],
        [0, found[3][1], "cleared", "fire-f00d00", json.dumps({"by": "inspector"}), "", ""]]
    rewrite(path, found[:4] + fake + found[4:])


def _head_behind(path: Path, g: dict) -> None:
    head = path.with_name(path.name + ".head")
    data = json.loads(head.read_text())
    data.update(seq=1, hash=rows(path)[0][6])
    head.write_text(json.dumps(data))


def _head_ahead(path: Path, g: dict) -> None:
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER events_no_delete")
    last = db.execute("SELECT max(seq) FROM events").fetchone()[0]
    db.execute("DELETE FROM events WHERE seq > ?", (last - 3,))
    with contextlib.suppress(sqlite3.OperationalError):
        db.execute("DELETE FROM seal")
    db.commit()
    db.close()


def _resign_with_own_key(path: Path, g: dict) -> None:
    """Edit, then sign everything with the forger's own key and swap the public key
    stored beside the journal."""
    from controller.journal import signing
    from controller.journal.state import digest

    _edit_a_row(path, g)
    forger = signing.Signer.load_or_create(path.parent / "forger" / "key")
    last = rows(path)[-1]
    db = sqlite3.connect(path)
    db.execute("UPDATE seal SET key=?, sig=?", (forger.fingerprint, forger.sign(
        signing.message("seal", last[0], last[6], db.execute("SELECT ts FROM seal").fetchone()[0]))))
    db.commit()
    db.close()
    head = path.with_name(path.name + ".head")
    data = json.loads(head.read_text())
    data.update(key=forger.fingerprint, sig=forger.sign(signing.message(
        "head", data["seq"], data["hash"], data["ts"], digest(data["state"]))))
    head.write_text(json.dumps(data))
    path.with_name(path.name + ".pub").write_bytes(signing.public_pem(forger.public))


FORGERIES = {
    "edit a row and recompute the chain and the head": _edit_a_row,
    "delete the last rows and rewrite the head": _cut_the_tail,
    "remove a whole activation from the middle and renumber": _remove_an_activation,
    "insert a fake drill": _insert_a_fake_drill,
    "a head behind the rows": _head_behind,
    "a head ahead of the rows": _head_ahead,
    "sign with another key and swap the stored public key": _resign_with_own_key,
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_each_forgery_fails_verify(genuine, tmp_path, audio_cache, forgery):
    result = _forged(genuine, tmp_path, audio_cache, FORGERIES[forgery])
    assert result.returncode == 1, f"{forgery} passed verify:\n{result.stdout}"
    assert "NOT VERIFIED (first bad row: " in result.stdout, result.stdout


def test_a_rollback_to_an_older_copy_fails_verify(tmp_path, audio_cache):
    site = make_site(tmp_path, audio_cache)
    serve = Serve(site)
    request(site, "trigger", scenario="collapse", drill=True)
    serve.stop()
    old = tmp_path / "old"
    old.mkdir()
    for name in FILES:
        if (tmp_path / name).exists():
            shutil.copy2(tmp_path / name, old / name)
    serve = Serve(site)
    request(site, "clear", activation=None, all=True)
    serve.stop()
    assert verify(site).returncode == 0
    for name in FILES:
        if (old / name).exists():
            shutil.copy2(old / name, tmp_path / name)
    result = verify(site)
    assert result.returncode == 1 and "rolled back" in result.stdout, result.stdout


def test_an_inspector_checks_a_copy_with_the_public_key_alone(genuine, tmp_path, audio_cache):
    public = tmp_path / "site.pub"
    public.write_bytes((genuine["dir"] / "journal.sqlite.pub").read_bytes())
    elsewhere = tmp_path / "inspector"
    elsewhere.mkdir()
    site = make_site(elsewhere, audio_cache)  # another machine: no signing key at all
    for name in FILES:
        if (genuine["dir"] / name).exists():
            shutil.copy2(genuine["dir"] / name, elsewhere / name)
    result = verify(site, "--public-key", str(public))
    assert result.returncode == 0, result.stdout
    assert "verified, signed by" in result.stdout
    assert not (elsewhere / ".dabyl-key").exists(), "verify never makes a key"
    _resign_with_own_key(elsewhere / "journal.sqlite", genuine)
    forged = verify(site, "--public-key", str(public))
    assert forged.returncode == 1, forged.stdout


def test_an_anchor_pins_the_history(genuine, tmp_path, audio_cache):
    site = copy_of(genuine, tmp_path, audio_cache)
    export = dabyl(site, "journal", "export", "--format", "csv").stdout.splitlines()
    anchor = export[-1].split(",", 4)
    assert anchor[2] == "anchor"
    seq = anchor[0]
    digest = json.loads(anchor[4].strip('"').replace('""', '"'))["hash"]
    assert verify(site, "--anchor", f"{seq}:{digest}").returncode == 0
    _edit_a_row(tmp_path / "journal.sqlite", genuine)
    result = verify(site, "--anchor", f"{seq}:{digest}")
    assert result.returncode == 1 and "anchored on paper" in result.stdout, result.stdout


def test_checkpoints_name_the_first_rows_no_longer_signed(tmp_path):
    from controller.journal import Journal
    from controller.journal import verify as verify_journal

    path = tmp_path / "journal.sqlite"
    journal = Journal(path, key_path=tmp_path / "key" / "journal.key", checkpoint_rows=10)
    journal.open()
    for i in range(60):
        journal.append("output", output="siren", on=bool(i % 2), ok=True, n=i)
    assert journal.flush(10)
    journal.close()
    assert verify_journal(path).ok
    found = rows(path)
    checkpoints = [r[0] for r in found if r[2] == "checkpoint"]
    assert len(checkpoints) >= 5
    target = next(r for r in found if r[0] > checkpoints[2] and r[2] == "output")
    target[4] = target[4].replace('"ok": true', '"ok": false')
    rewrite(path, found)
    result = verify_journal(path)
    assert not result.ok
    # Everything up to the row the third checkpoint signed still verifies; the first row
    # after it is the first one no good signature covers any more.
    assert result.first_bad == checkpoints[2], (result.first_bad, checkpoints)
    assert checkpoints[2] < target[0] < checkpoints[3]


# -- honest documents ---------------------------------------------------------------------

def test_annex2_never_invents_work_for_a_drill_with_no_ticks(genuine, tmp_path):
    import docx

    out = tmp_path / "annex2.docx"
    result = dabyl(genuine["site"], "journal", "export", "--format", "annex2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    table = docx.Document(str(out)).tables[1]
    by_act = {row.cells[3].text.split(", ")[1].split(")")[0]: [c.text for c in row.cells]
              for row in table.rows[2:]}
    bare = by_act[genuine["bare"]]
    assert "не записано" in bare[3], bare[3]
    assert not re.findall(r"(?:^|: |\) )(\d+)\) ", bare[3]), "no item worked through"
    assert bare[4] == "7"
    ticked = by_act[genuine["ticked"]][3]
    # Only the two ticked items, in the order worked through (item 2 first), with times.
    numbers = re.findall(r"(?:^|: |\) )(\d+)\) ", ticked)  # item numbers, not times
    assert numbers == ["1", "2"], ticked
    from controller.config import load_config
    from controller.scenarios import load_library

    config = load_config(genuine["site"])
    staff = load_library(config.scenarios_dir, config).get("shooting").checklist.staff.ru
    assert ticked.index(staff[2]) < ticked.index(staff[0])
    text = "\n".join(p.text for p in docx.Document(str(out)).paragraphs)
    assert "Якорь журнала: запись №" in text


def test_show_of_a_phone_threat_during_a_fire(genuine):
    shown = dabyl(genuine["site"], "journal", "show", genuine["phone"])
    assert shown.returncode == 0
    kinds = [line.split()[2] for line in shown.stdout.splitlines()]
    assert "triggered" in kinds and "form" in kinds and "cleared" in kinds
    assert "output" not in kinds, "the phone threat switched no output:\n" + shown.stdout
    fire = dabyl(genuine["site"], "journal", "show", genuine["fire"]).stdout
    assert "output=\"siren\"" in fire


def test_report_times_and_documents(genuine, tmp_path):
    report = dabyl(genuine["site"], "report", genuine["fire"])
    assert report.returncode == 0
    clear = next(line for line in report.stdout.splitlines() if "trigger to clear" in line)
    assert clear.rstrip().endswith(" s") and " ms" not in clear, clear
    listing = dabyl(genuine["site"], "journal", "list").stdout
    assert "-> open open" not in listing
    assert f"{genuine['fire']}" in listing and "cleared at" in listing
    for fmt in ("docx", "pdf"):
        out = tmp_path / f"report.{fmt}"
        made = dabyl(genuine["site"], "report", genuine["bare"], "--format", fmt, "--lang", "kk",
                     "--out", str(out))
        assert made.returncode == 0, made.stderr
        assert out.stat().st_size > 1000
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"],
                              capture_output=True, text=True).stdout
        assert "Жаттығуға қатысқандар саны: 7" in text


def test_the_console_sees_pages_not_the_whole_journal(genuine):
    # The functions the controller runs on its reader worker for the console.
    from controller.journal import activation_rows, list_activations

    path = genuine["dir"] / "journal.sqlite"
    first = list_activations(path, limit=2)
    assert len(first["activations"]) == 2 and first["next_before"]
    second = list_activations(path, limit=2, before=first["next_before"])
    assert {a["activation"] for a in second["activations"]}.isdisjoint(
        a["activation"] for a in first["activations"])
    page = activation_rows(path, genuine["fire"], limit=3)
    assert len(page["timeline"]) == 3 and page["next_after"]


def test_verify_runs_without_a_config_traceback(genuine):
    result = subprocess.run([sys.executable, "-m", "controller.cli", "--config",
                             str(genuine["site"]), "journal", "verify", "--anchor", "x"],
                            capture_output=True, text=True, env=dabyl_env())
    assert result.returncode == 2 and "Traceback" not in result.stderr
