"""The journal under a long history: start → ready to broadcast with a 1,000,000-row
journal, the reply latency of a durable `clear`, and the first audio of a new alarm while
12 consoles page through the journal.

The big journal is built once per bench run by a bulk writer that makes what the
controller would have made (segments of one hash chain, signed checkpoints, seals, a
signed head with the snapshot of what is open), then shared by the figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from controller.bench.common import BenchContext, Figure, at_rest, running
from controller.journal import signing
from controller.journal.state import Recovered, canonical, digest
from controller.journal.store import (
    GENESIS,
    SCHEMA,
    SCHEMA_VERSION,
    archive_path,
    head_path,
    now_iso,
    public_key_path,
    row_hash,
    to_row,
    write_atomic,
)

NAME = "journal"
HISTORY = 1_000_000
SEGMENT_ROWS = 60_000  # about 16 MB, the default segment size
CLIENTS = 12


def build_history(site_dir: Path, rows: int = HISTORY) -> Path:
    """A journal of `rows` rows at site_dir/journal.sqlite, signed with the site key;
    its last activation (a fire) is left open."""
    path = site_dir / "journal.sqlite"
    signer = signing.Signer.load_or_create(site_dir / ".dabyl-key" / "journal.key")
    write_atomic(public_key_path(path), signing.public_pem(signer.public))
    seq, prev = 0, GENESIS
    state = Recovered()
    segment, conn, in_segment = 0, None, 0
    base = time.time() - rows * 30  # a row every 30 s: years of history
    outputs = ("amp_power", "zone_hall", "zone_lobby", "strobe", "siren")

    def ts_at(n: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + n * 30)) + ".000000+00:00"

    def cycle(n: int):
        act = f"fire-{n:06x}"
        yield "triggered", act, {"scenario": "fire", "drill": n % 3 == 0, "source": "operator",
                                 "origin": "bench", "zones": ["hall", "lobby"], "state": "active"}
        for name in outputs:
            yield "output", None, {"output": name, "on": True, "ok": True, "wanted_by": [act]}
        yield "announcement_started", act, {"label": "fire-public"}
        yield "first_audio", act, {"latency_ms": 41.0}
        yield "announcement_ended", act, {"completed": True}
        yield "cleared", act, {"by": "bench", "reason": "cleared by operator"}
        for name in outputs:
            yield "output", None, {"output": name, "on": False, "ok": True, "wanted_by": []}

    batch: list[tuple] = []

    def flush() -> None:
        nonlocal batch
        if batch and conn is not None:
            conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
            batch = []

    def add(kind: str, act: str | None, data: dict, fold: bool = True) -> None:
        nonlocal seq, prev, in_segment
        seq += 1
        ts = ts_at(seq)
        payload = json.dumps(data, ensure_ascii=False, sort_keys=True)
        digest_ = row_hash(seq, ts, kind, act, payload, prev)
        batch.append((seq, ts, kind, act, payload, prev, digest_))
        prev = digest_
        in_segment += 1
        if fold and (act is not None or kind == "threat_level"):
            state.fold(to_row(seq, ts, kind, act, payload))
        if len(batch) >= 5000:
            flush()

    def seal_and_close() -> None:
        flush()
        assert conn is not None
        ts = now_iso()
        conn.execute("INSERT OR REPLACE INTO seal VALUES (1, ?, ?, ?, ?, ?)",
                     (seq, prev, ts, signer.fingerprint,
                      signer.sign(signing.message("seal", seq, prev, ts))))
        conn.commit()
        conn.close()

    def open_segment() -> sqlite3.Connection:
        nonlocal segment, in_segment
        segment += 1
        in_segment = 0
        file = site_dir / f"building-{segment}.sqlite"
        file.unlink(missing_ok=True)
        c = sqlite3.connect(file)
        c.execute("PRAGMA journal_mode=OFF")
        c.execute("PRAGMA synchronous=OFF")
        c.executescript(SCHEMA)
        c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        return c

    files = []
    n = 0
    while seq < rows:
        if conn is None or in_segment >= SEGMENT_ROWS:
            if conn is not None:
                seal_and_close()
                files.append(site_dir / f"building-{segment}.sqlite")
            conn = open_segment()
            add("segment", None, {"number": segment, "reason": "size",
                                  "follows": {"seq": seq, "hash": prev},
                                  "state": state.to_json()}, fold=False)
        for kind, act, data in cycle(n):
            add(kind, act, data)
            if in_segment % 1000 == 999:
                ts = ts_at(seq + 1)
                add("checkpoint", None, {"signs": {"seq": seq, "hash": prev},
                                         "key": signer.fingerprint,
                                         "sig": signer.sign(signing.message("checkpoint", seq,
                                                                            prev, ts))},
                    fold=False)
        n += 1
    # The newest alarm is still open when the controller stops.
    for kind, act, data in list(cycle(n))[:8]:
        add(kind, act, data)
    seal_and_close()
    files.append(site_dir / f"building-{segment}.sqlite")
    for number, file in enumerate(files[:-1], 1):
        os.replace(file, archive_path(path, number))
    os.replace(files[-1], path)
    ts = now_iso()
    snapshot = state.to_json()
    head = {"version": 2, "seq": seq, "hash": prev, "ts": ts, "segment": segment,
            "state": snapshot, "key": signer.fingerprint,
            "sig": signer.sign(signing.message("head", seq, prev, ts, digest(snapshot)))}
    write_atomic(head_path(path), canonical(head))
    signer.remember(seq, prev, ts)
    return path


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _starts(config: Path, rounds: int) -> tuple[list[float], list[float]]:
    """`dabyl serve` from exec to ready to broadcast (the control socket answers), and
    its memory then."""
    from controller.client import Client
    from controller.config import load_config
    from controller.errors import DabylError

    socket = load_config(config).path(load_config(config).control.socket)
    times, rss = [], []
    for _ in range(rounds):
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "controller.cli", "--config", str(config),
                                 "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("dabyl serve stopped during the journal bench")
                try:
                    with Client(socket, timeout=2) as client:
                        client.request("ping")
                    break
                except DabylError:
                    time.sleep(0.005)
            times.append((time.monotonic() - t0) * 1000)
            rss.append(_rss_mb(proc.pid))
        finally:
            proc.terminate()
            proc.wait(30)
    return times, rss


CLIENT_SCRIPT = """
import sys, threading, time
from controller.client import Client
path, stop_at = sys.argv[1], float(sys.argv[2])
def browse():
    with Client(path, timeout=30) as c:
        before = None
        while time.time() < stop_at:
            page = c.request("journal", limit=50, **({"before": before} if before else {}))
            before = page.get("next_before")
for _ in range(int(sys.argv[3])):
    threading.Thread(target=browse, daemon=True).start()
print("browsing", flush=True)
time.sleep(max(0.0, stop_at - time.time()))
"""


def _consoles(socket: Path) -> subprocess.Popen:
    """12 consoles in a process of their own, each paging through the journal."""
    return subprocess.Popen([sys.executable, "-c", CLIENT_SCRIPT, str(socket),
                             str(time.time() + 3600), str(CLIENTS)],
                            stdout=subprocess.PIPE, text=True)


async def _under_load(config: Path, rounds: int) -> tuple[list[float], list[float], list[float]]:
    """First audio of a new alarm while 12 consoles page through the journal, and the
    reply latency of a durable clear; the controller's memory meanwhile."""
    from controller import api

    first, clears, rss = [], [], []
    async with running(config) as (controller, probe):
        engine = controller.engine
        engine.clear(None, "bench")  # the alarm the history left open, resumed at start
        for _ in range(rounds):  # a durable clear, no load
            await at_rest(controller)
            act = await engine.trigger("fire", source="operator", origin="bench")
            await probe.wait("first_audio", activation=act.id)
            t0 = time.monotonic()
            reply = await controller.handle(api.Clear(op="clear", activation=act.id), "bench")
            clears.append((time.monotonic() - t0) * 1000)
            assert reply["journaled"], reply
        clients = _consoles(controller.server.path)
        try:
            assert clients.stdout is not None
            await asyncio.to_thread(clients.stdout.readline)
            await asyncio.sleep(1.0)  # the consoles are busy before the alarm
            for _ in range(rounds):
                await at_rest(controller)
                probe.drain()
                t0 = time.monotonic()
                act = await engine.trigger("fire", source="operator", origin="bench")
                event = await probe.wait("first_audio", activation=act.id, timeout=30)
                first.append((act.audible_mono - t0) * 1000 + event["latency_ms"])
                rss.append(_rss_mb(os.getpid()))
                engine.clear(act.id, "bench")
        finally:
            clients.terminate()
            clients.wait(10)
    return first, clears, rss


def measure(ctx: BenchContext) -> list[Figure]:
    config = ctx.site("journal-1m")
    t0 = time.monotonic()
    build_history(config.parent)
    ctx.notes.append(f"journal bench: {HISTORY:,} rows in {len(list(config.parent.glob('journal*.sqlite')))} "
                     f"segments built in {time.monotonic() - t0:.0f} s "
                     f"({sum(p.stat().st_size for p in config.parent.glob('journal*.sqlite')) / 1e6:.0f} MB)")
    starts, start_rss = _starts(config, max(3, min(10, ctx.rounds // 20)))
    first, clears, rss = asyncio.run(_under_load(config, max(10, min(50, ctx.rounds // 4))))
    return [
        Figure("start_1m_rows", f"start → ready to broadcast, {HISTORY:,}-row journal",
               starts, 2000, standard="IEC 60849: broadcast within 10 s of power-on",
               standard_allows=10000),
        Figure("start_1m_rows_rss", "memory of `dabyl serve` when ready (1M-row journal)",
               [max(start_rss)], 150, unit="MB", target_is_max=True),
        Figure("durable_clear_reply", "reply to a durable `clear` (row fsynced, head signed)",
               clears, 30),
        Figure("first_audio_12_consoles",
               f"trigger → first audio, {CLIENTS} consoles paging a {HISTORY:,}-row journal",
               first, 150, standard="EN 54-16: voice alarm within 3 s", standard_allows=3000),
        Figure("rss_12_consoles", f"controller memory with {CLIENTS} consoles paging the journal",
               [max(rss)], 200, unit="MB", target_is_max=True),
    ]
