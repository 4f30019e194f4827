"""The alarm path with ten consoles attached: trigger → relays acknowledged and
trigger → first audio frame, each round from rest.

The consoles are real clients of the control socket in a process of their own, as
`dabyl tui` is: each subscribes as a console does (events and the coalesced status)
and decodes every line it receives. For comparison, a note gives the same figures
with consoles that ask for the whole status on every event, as consoles once did.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path

from controller.bench.common import BenchContext, Figure, fire_from_rest, percentiles, running

NAME = "consoles"
CONSOLES = 10


def _consoles(sock: Path, count: int, ask: bool) -> subprocess.Popen:
    """Start `count` consoles in their own process; returns once all are subscribed."""
    argv = [sys.executable, "-m", "controller.bench.consoles", str(sock), str(count)]
    proc = subprocess.Popen(argv + (["--ask-status"] if ask else []), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("subscribed"):
        proc.kill()
        raise RuntimeError(f"the bench consoles did not attach: {line!r}")
    return proc


def _stop(proc: subprocess.Popen) -> dict[str, int]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()  # the consoles end when their input closes
    counts = json.loads(proc.stdout.readline() or "{}")
    proc.wait(10)
    return counts


async def _rounds(config_path: Path, rounds: int, ask: bool) -> tuple[dict, dict]:
    out: dict[str, list[float]] = {"relays": [], "first_audio": []}
    async with running(config_path) as (controller, probe):
        consoles = await asyncio.to_thread(_consoles, controller.server.path, CONSOLES, ask)
        try:
            for _ in range(rounds):
                act, relays, first = await fire_from_rest(controller, probe)
                out["relays"].append(relays)
                out["first_audio"].append(first)
                controller.engine.clear(act.id, "bench")
        finally:
            counts = await asyncio.to_thread(_stop, consoles)
    return out, counts


def measure(ctx: BenchContext) -> list[Figure]:
    rounds = max(3, ctx.rounds // 2)
    shared, counts = asyncio.run(_rounds(ctx.site("consoles"), rounds, ask=False))
    asking, _ = asyncio.run(_rounds(ctx.site("consoles-asking"), rounds, ask=True))
    if counts.get("events"):
        ctx.notes.append(
            f"{CONSOLES} consoles received {counts['events']} events, "
            f"{counts['status']} of them coalesced status events, over {rounds} rounds")
    if asking["relays"]:
        r, a = percentiles(asking["relays"]), percentiles(asking["first_audio"])
        ctx.notes.append(
            f"{CONSOLES} consoles asking for the whole status on every event (as before): "
            f"relays p95 {r['p95']:.1f} ms, first audio p95 {a['p95']:.1f} ms")
    return [
        Figure("relays_tcp_consoles", f"trigger → relays acknowledged, {CONSOLES} consoles attached",
               shared["relays"], 30),
        Figure("first_audio_consoles", f"trigger → first audio frame, {CONSOLES} consoles attached",
               shared["first_audio"], 150, standard="EN 54-16: voice alarm within 3 s",
               standard_allows=3000),
    ]


# -- the consoles' side (run as `python -m controller.bench.consoles SOCKET COUNT`) ------
async def _console(sock: Path, ask: bool, counts: dict[str, int],
                   subscribed: asyncio.Event, ready: list[int], total: int) -> None:
    reader, writer = await asyncio.open_unix_connection(str(sock), limit=16 * 1024 * 1024)
    # Consoles now draw from the coalesced status; consoles as they were asked instead.
    status = "false" if ask else "true"
    writer.write(f'{{"id": 0, "op": "subscribe", "status": {status}}}\n'.encode())
    await writer.drain()
    asked = 0
    try:
        while line := await reader.readline():
            msg = json.loads(line)  # a console decodes every line, as the TUI does
            if msg.get("id") == 0:
                ready.append(1)
                if len(ready) == total:
                    subscribed.set()
                continue
            event = msg.get("event")
            if event is None:
                continue
            counts["events"] += 1
            if event.get("kind") == "status":
                counts["status"] += 1
            elif ask:
                asked += 1
                writer.write(json.dumps({"id": f"s{asked}", "op": "status"}).encode() + b"\n")
                await writer.drain()
    finally:
        writer.close()


async def _consoles_main(sock: Path, count: int, ask: bool) -> None:
    counts = {"events": 0, "status": 0}
    subscribed = asyncio.Event()
    ready: list[int] = []
    tasks = [asyncio.ensure_future(_console(sock, ask, counts, subscribed, ready, count))
             for _ in range(count)]
    await subscribed.wait()
    print("subscribed", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the bench closes our input
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("socket", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument("--ask-status", action="store_true")
    args = parser.parse_args()
    asyncio.run(_consoles_main(args.socket, args.count, args.ask_status))
