"""The dabyl command as an operator uses it: a real `dabyl serve` process, the CLI,
an independent Modbus master, kill -9 and restart."""

from __future__ import annotations

import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO, dabyl_env, make_site, read_coils

CHANNELS = {name: out["channel"] for name, out in DEMO["outputs"].items()}


def dabyl(config: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli", "--config", str(config), *args],
        capture_output=True, text=True, timeout=timeout, env=dabyl_env(),
    )


class Serve:
    """`dabyl serve` in its own process; ready when it says so on stderr."""

    def __init__(self, config: Path, env: dict[str, str] | None = None,
                 umask: int | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controller.cli", "--config", str(config), "serve"],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env or dabyl_env(),
            preexec_fn=None if umask is None else (lambda: os.umask(umask)),
        )
        self.stderr = b""
        sel = selectors.DefaultSelector()
        assert self.proc.stderr is not None
        sel.register(self.proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        while b"controller running" not in self.stderr:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"serve did not start: {self.stderr.decode()}")
            if sel.select(left):
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                if not chunk:
                    raise AssertionError(f"serve exited: {self.stderr.decode()}")
                self.stderr += chunk

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(30)
        return self.proc.returncode


def _port(config: Path) -> int:
    import tomllib

    return tomllib.loads(config.read_text())["devices"][0]["port"]


@pytest.fixture
def cli_site(tmp_path, audio_cache) -> Path:
    return make_site(tmp_path, audio_cache)


def test_fire_drill_from_the_command_line(cli_site):
    serve = Serve(cli_site)
    try:
        trig = dabyl(cli_site, "trigger", "fire", "--drill")
        assert trig.returncode == 0, trig.stderr
        act = trig.stdout.strip()
        assert act.startswith("fire-")
        status = dabyl(cli_site, "status")
        assert "DRILL" in status.stdout and act in status.stdout
        coils = read_coils(_port(cli_site))
        assert coils[CHANNELS["strobe"]] and not coils[CHANNELS["siren"]]
        cleared = dabyl(cli_site, "clear", "--all")
        assert cleared.returncode == 0 and act in cleared.stdout
        status = dabyl(cli_site, "status", "--json")
        assert '"activations": []' in status.stdout
    finally:
        assert serve.stop() == 0
    coils_after = dabyl(cli_site, "journal", "show", act)
    assert "triggered" in coils_after.stdout and "cleared" in coils_after.stdout
    assert "output" in coils_after.stdout
    verify = dabyl(cli_site, "journal", "verify")
    assert verify.returncode == 0, verify.stdout
    listing = dabyl(cli_site, "journal", "list")
    assert act in listing.stdout and "drill" in listing.stdout
    csv_out = dabyl(cli_site, "journal", "export", "--format", "csv")
    assert csv_out.stdout.startswith("seq,time_utc,kind")


def test_kill_9_during_a_real_alarm_and_the_alarm_comes_back(cli_site):
    serve = Serve(cli_site)
    trig = dabyl(cli_site, "trigger", "fire")
    act = trig.stdout.strip()
    assert trig.returncode == 0 and act
    serve.kill9()
    serve = Serve(cli_site)
    try:
        status = dabyl(cli_site, "status", "--json")
        assert act in status.stdout and '"resumed": true' in status.stdout
        assert '"mode": "ALARM"' in status.stdout
        show = dabyl(cli_site, "journal", "show", act)
        assert "resumed" in show.stdout and "gap_s" in show.stdout
        coils = read_coils(_port(cli_site))
        assert coils[CHANNELS["siren"]] and coils[CHANNELS["strobe"]]
        assert dabyl(cli_site, "clear", act).returncode == 0
    finally:
        serve.stop()
    verify = dabyl(cli_site, "journal", "verify")
    assert verify.returncode == 0, verify.stdout


def test_check_reports_each_problem_on_one_line_without_traceback(tmp_path, audio_cache):
    def broken(cfg):
        cfg["outputs"]["siren"]["device"] = "nowhere"
        cfg["inputs"][0]["scenario"] = "flood"

    config = make_site(tmp_path, audio_cache, change=broken)
    result = dabyl(config, "check")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert any("outputs.siren.device: unknown device 'nowhere'" in line for line in lines)
    assert all(line.startswith("dabyl: ") for line in lines)
    assert "Traceback" not in result.stderr


def test_check_passes_on_the_demo_site(cli_site):
    result = dabyl(cli_site, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scenarios: 10 loaded" in result.stdout


def test_no_controller_is_one_line_and_exit_3(cli_site):
    result = dabyl(cli_site, "status")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "no controller is running" in result.stderr


def test_refused_request_is_one_line_and_exit_1(cli_site):
    serve = Serve(cli_site)
    try:
        ok = dabyl(cli_site, "trigger", "suspicious_object", "--param", "object=truck", "--drill")
        assert ok.returncode == 0
        # Well formed and naming what exists, refused in this state (nothing is held).
        result = dabyl(cli_site, "confirm", ok.stdout.strip())
        assert result.returncode == 1
        assert "not waiting for confirmation" in result.stderr and result.stderr.count("\n") == 1
    finally:
        serve.stop()


def test_journal_verify_fails_on_an_edited_journal(cli_site):
    serve = Serve(cli_site)
    dabyl(cli_site, "trigger", "collapse", "--drill")
    dabyl(cli_site, "clear", "--all")
    serve.stop()
    db = sqlite3.connect(cli_site.parent / "journal.sqlite")
    db.execute("DROP TRIGGER events_no_update")
    db.execute("UPDATE events SET ts = '2020-01-01T00:00:00+00:00' WHERE kind = 'triggered'")
    db.commit()
    db.close()
    result = dabyl(cli_site, "journal", "verify")
    assert result.returncode == 1
    assert "contents were changed" in result.stdout


def test_config_option_before_or_after_the_command(cli_site, tmp_path):
    for args in (("--config", str(cli_site), "check"), ("check", "--config", str(cli_site))):
        result = subprocess.run([sys.executable, "-m", "controller.cli", *args],
                                capture_output=True, text=True, cwd=tmp_path, env=dabyl_env())
        assert result.returncode == 0, result.stderr
        assert str(cli_site) in result.stdout


def test_simulate_runs_the_simulated_board_on_its_own(cli_site):
    proc = subprocess.Popen([sys.executable, "-m", "controller.cli", "--config", str(cli_site),
                             "simulate"], stdout=subprocess.PIPE, text=True, env=dabyl_env())
    try:
        line = proc.stdout.readline()
        assert f"Modbus TCP at 127.0.0.1:{_port(cli_site)}" in line
        assert read_coils(_port(cli_site)) == [False] * 16
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_selftest_from_the_command_line(cli_site):
    serve = Serve(cli_site)
    try:
        result = dabyl(cli_site, "selftest")
        assert "zone_hall" in result.stdout and "pulsed" in result.stdout
        assert result.returncode == 1, "the WAV sink is no loudspeaker: reported as a failure"
        assert "FAIL audio" in result.stdout
    finally:
        serve.stop()


def test_bench_reports_every_figure_with_its_target(tmp_path, audio_cache):
    """The benchmark runs end to end (its numbers are for `dabyl bench`, not asserted here)."""
    import json

    config = make_site(tmp_path, audio_cache)
    result = dabyl(config, "bench", "--json", "--rounds", "3", "--idle", "0.5", timeout=300)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert {"relays_tcp", "relays_rtu", "first_audio", "panic_to_activation", "clear_to_rest",
            "device_lost_to_fault", "idle_serve_cpu", "idle_run_rss", "public_cycle",
            "first_instruction", "staff_message", "render_all_cold"} <= set(report["figures"])
    for figure in report["figures"].values():
        assert {"p50", "p95", "max", "target", "unit", "within_target"} <= set(figure)
    assert report["figures"]["first_audio"]["standard_allows"] == 3000
    assert any("naive" in note for note in report["notes"])


def test_briefing_drill_record_and_documents_from_the_command_line(cli_site, tmp_path):
    import docx

    serve = Serve(cli_site)
    try:
        act = dabyl(cli_site, "trigger", "shooting", "--drill").stdout.strip()
        dabyl(cli_site, "clear", act)
        assert dabyl(cli_site, "drill", "record", act, "--participants", "9").returncode == 0
        result = dabyl(cli_site, "briefing", "--person", "Ахметов Ерлан", "--position", "күзетші",
                       "--by", "Сейітов Бауыржан, имам", "--kind", "unplanned")
        assert result.returncode == 0, result.stderr
        assert dabyl(cli_site, "threat-level", "raised").returncode == 0
        assert "threat_level" in dabyl(cli_site, "status", "--json").stdout
    finally:
        serve.stop()
    out = tmp_path / "annex2.docx"
    result = dabyl(cli_site, "journal", "export", "--format", "annex2", "--lang", "kk",
                   "--out", str(out))
    assert result.returncode == 0 and "1 briefings, 1 drills" in result.stdout, result.stdout
    document = docx.Document(str(out))
    briefing = [c.text for c in document.tables[0].rows[2].cells]
    assert briefing[2] == "Ахметов Ерлан, күзетші" and briefing[3] == "жоспардан тыс"
    drill = [c.text for c in document.tables[1].rows[2].cells]
    assert drill[4] == "9" and "Атыс" in drill[3]
    report = dabyl(cli_site, "report", act)
    assert "trigger to first relay" in report.stdout and "participants: 9" in report.stdout
    annex3 = dabyl(cli_site, "schedule", "export", "--year", "2027", "--out",
                   str(tmp_path / "annex3.docx"))
    assert annex3.returncode == 0 and "1 scheduled drills in 2027" in annex3.stdout


def test_voices_and_render(cli_site):
    voices = dabyl(cli_site, "voices")
    assert voices.returncode == 0
    assert "kk: espeak-ng" in voices.stdout and "voices install kk_KZ-issai-high" in voices.stdout
    render = dabyl(cli_site, "render")
    assert render.returncode == 0, render.stderr
    assert "already cached" in render.stdout


def _one_line(result: subprocess.CompletedProcess, code: int) -> str:
    """The whole answer of a refused command: one line on stderr, nothing else."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == "", result.stdout
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("dabyl"), result.stderr
    for words in ("internal error", "Traceback", "Errno", "usage:", "Value error",
                  "Input should", "String should", "after validation"):
        assert words not in result.stderr, result.stderr
    return result.stderr


def test_every_path_and_number_argument_fails_in_one_line(cli_site, tmp_path):
    serve = Serve(cli_site)
    try:
        act = dabyl(cli_site, "trigger", "fire", "--drill").stdout.strip()
        assert dabyl(cli_site, "clear", act).returncode == 0
    finally:
        serve.stop()
    missing = tmp_path / "no" / "such" / "dir"
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    for out in (missing / "x.pdf", tmp_path, a_file / "x.pdf"):
        line = _one_line(dabyl(cli_site, "report", act, "--format", "pdf", "--out", str(out)), 1)
        assert str(out) in line
    line = _one_line(dabyl(cli_site, "report", act, "--format", "docx", "--out",
                           str(missing / "x.docx")), 1)
    assert str(missing / "x.docx") in line
    line = _one_line(dabyl(cli_site, "journal", "export", "--format", "annex2", "--out",
                           str(missing / "annex2.docx")), 1)
    assert str(missing / "annex2.docx") in line
    line = _one_line(dabyl(cli_site, "schedule", "export", "--out",
                           str(missing / "annex3.docx")), 1)
    assert str(missing / "annex3.docx") in line
    line = _one_line(dabyl(cli_site, "backup", str(a_file / "backup")), 1)
    assert str(a_file) in line
    for args in (("journal", "export", "--format", "csv"), ("report", act), ("report", act,
                                                                             "--json")):
        line = _one_line(dabyl(cli_site, *args, "--out", str(missing / "x.txt")), 1)
        assert str(missing / "x.txt") in line, "never printed instead of the file asked for"
        written = tmp_path / f"{args[0]}-{len(args)}.txt"
        done = dabyl(cli_site, *args, "--out", str(written))
        assert (done.returncode, done.stdout, done.stderr) == (0, f"wrote {written}\n", "")
        assert act in written.read_text()
    for args in (("schedule", "export", "--year", "99999"), ("schedule", "export", "--year", "0"),
                 ("schedule", "export", "--year", "-5"), ("schedule", "list", "--count", "0"),
                 ("schedule", "list", "--count", "100000000"), ("bench", "--rounds", "0"),
                 ("bench", "--idle", "-1"), ("journal", "list", "--before", "0"),
                 ("press", "panic_office", "--hold", "100"), ("drill", "record", act,
                                                               "--participants", "-3")):
        line = _one_line(dabyl(cli_site, *args), 2)
        assert args[-2] in line, line
    assert not missing.exists() and not list(tmp_path.glob("*.docx")), "nothing written"


def test_bad_usage_is_one_line_and_exit_2(cli_site, tmp_path):
    assert "unknown command 'bogus'" in _one_line(dabyl(cli_site, "bogus"), 2)
    assert "list, show, verify, key, export" in _one_line(dabyl(cli_site, "journal"), 2)
    assert "--kind" in _one_line(dabyl(cli_site, "trigger", "fire", "--kind", "bogus"), 2)
    line = _one_line(dabyl(cli_site, "briefing", "--person", "x", "--by", "y", "--kind", "no"), 2)
    assert "planned, unplanned" in line
    assert "activation" in _one_line(dabyl(cli_site, "report"), 2)
    for limit in ("0", "-1", "many"):
        assert "--limit" in _one_line(dabyl(cli_site, "journal", "list", "--limit", limit), 2)
    line = _one_line(dabyl(cli_site, "journal", "verify", str(tmp_path / "none.sqlite")), 1)
    assert "no journal" in line
    assert "--help" in dabyl(cli_site, "--help").stdout, "help itself stays whole"
    serve = Serve(cli_site)
    try:
        assert "unknown scenario 'flood'" in _one_line(dabyl(cli_site, "trigger", "flood"), 2)
        assert "no choice 'piano'" in _one_line(
            dabyl(cli_site, "trigger", "suspicious_object", "--param", "object=piano"), 2)
        assert "unknown input" in _one_line(dabyl(cli_site, "press", "doorbell"), 2)
        briefing = ("briefing", "--by", "Сейітов Б.", "--person")
        assert _one_line(dabyl(cli_site, *briefing, "Ахметов Е.", "--date", "2026-02-30"), 2) \
            == "dabyl: date: 2026-02-30 is not a date (YYYY-MM-DD)\n"
        assert _one_line(dabyl(cli_site, *briefing, ""), 2) == "dabyl: person: must not be empty\n"
        # Understood, but refused in this state: exit 1.
        assert "no open activation" in _one_line(dabyl(cli_site, "silence", "fire-000000"), 1)
    finally:
        serve.stop()


def test_caller_form_keeps_choice_ids_and_shows_them_in_the_readers_language(cli_site):
    import json

    serve = Serve(cli_site)
    try:
        act = dabyl(cli_site, "trigger", "phone_threat").stdout.strip()
        for bad in ("voice=bogus", "tempo=fast and loud"):
            line = _one_line(dabyl(cli_site, "form", act, "--set", bad), 2)
            assert bad.split("=")[1] in line and "choices" in line, line
        assert dabyl(cli_site, "form", act, "--set", "tempo=fast").returncode == 0
        # Picked on a Kazakh console: kept as the choice, shown in Russian to a Russian reader.
        assert dabyl(cli_site, "form", act, "--set", "voice=ақырын").returncode == 0
        answers = next(a["answers"] for a in json.loads(
            dabyl(cli_site, "status", "--json").stdout)["activations"] if a["id"] == act)
        assert answers == {"tempo": "fast", "voice": "quiet"}
        shown = dabyl(cli_site, "form", act, "--lang", "ru").stdout
        assert "= тихий" in shown and "= быстрый" in shown and "ақырын" not in shown
        assert "= ақырын" in dabyl(cli_site, "form", act, "--lang", "kk").stdout
        # Without --lang: the site's console language (the demo's is Kazakh).
        assert "= ақырын" in dabyl(cli_site, "form", act).stdout
        line = _one_line(dabyl(cli_site, "trigger", "fire", "--zones", " , "), 2)
        assert "--zones" in line
        assert not [a for a in json.loads(dabyl(cli_site, "status", "--json").stdout)[
            "activations"] if a["scenario"] == "fire"], "nothing started"
        dabyl(cli_site, "clear", act)
        # The controller simulates the board itself: a second simulator cannot listen.
        line = _one_line(dabyl(cli_site, "simulate"), 1)
        assert "cannot simulate a board" in line, line
    finally:
        serve.stop()


def test_a_drill_is_recorded_once_and_a_correction_says_so(cli_site, tmp_path):
    import docx

    serve = Serve(cli_site)
    try:
        act = dabyl(cli_site, "trigger", "fire", "--drill").stdout.strip()
        assert dabyl(cli_site, "clear", act).returncode == 0
        assert dabyl(cli_site, "drill", "record", act, "--participants", "25").returncode == 0
        line = _one_line(dabyl(cli_site, "drill", "record", act, "--participants", "30"), 1)
        assert "25 participants" in line and "--correct" in line, line
        assert "participants: 25 " in dabyl(cli_site, "report", act).stdout
        fixed = dabyl(cli_site, "drill", "record", act, "--participants", "30", "--correct")
        assert fixed.returncode == 0 and "correction" in fixed.stdout, fixed.stdout + fixed.stderr
    finally:
        serve.stop()
    assert "participants: 30 (corrected; first recorded: 25)" in dabyl(cli_site, "report", act).stdout
    out = tmp_path / "annex2.docx"
    assert dabyl(cli_site, "journal", "export", "--format", "annex2", "--out", str(out)).returncode == 0
    drill = [c.text for c in docx.Document(str(out)).tables[1].rows[2].cells]
    assert drill[4] == "30 (исправлено; первая запись: 25)", drill
    show = dabyl(cli_site, "journal", "show", act).stdout
    assert show.count("drill_record") == 2, "both rows stay in the journal"
