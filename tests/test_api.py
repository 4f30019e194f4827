"""The control socket: every request kind, and garbage that changes nothing."""

from __future__ import annotations

import asyncio
import json
import os
import pwd

import pytest

from controller.client import AsyncClient


async def _raw(path, payload: bytes, replies: int = 1) -> list[dict]:
    reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 20)
    writer.write(payload)
    await writer.drain()
    out = []
    async with asyncio.timeout(5):
        while len(out) < replies:
            line = await reader.readline()
            if not line:
                break
            out.append(json.loads(line))
    writer.close()
    return out


GARBAGE = [
    (b"hello\n", "not valid JSON"),
    (b"[1, 2, 3]\n", "must be a JSON object"),
    (b'{"op": "explode"}\n', "unknown op 'explode'"),
    (b'{"scenario": "fire"}\n', "unknown op None"),
    (b'{"op": "trigger"}\n', "scenario: missing"),
    (b'{"op": "trigger", "scenario": 5}\n', "scenario"),
    (b'{"op": "trigger", "scenario": "FIRE!"}\n', "scenario"),
    (b'{"op": "trigger", "scenario": "fire", "drill": "maybe"}\n', "drill"),
    (b'{"op": "trigger", "scenario": "fire", "boom": 1}\n', "boom: unknown key"),
    (b'{"op": "trigger", "scenario": "fire", "zones": "hall"}\n', "zones"),
    (b'{"op": "trigger", "scenario": "flood"}\n', "unknown scenario 'flood'"),
    (b'{"op": "trigger", "scenario": "hostage", "zones": ["hall"]}\n', "never reaches public"),
    (b'{"op": "clear"}\n', "name an activation or set all"),
    (b'{"op": "clear", "activation": "nope"}\n', "no open activation 'nope'"),
    (b'{"op": "tick", "activation": "x", "role": "janitor", "item": 1}\n', "role"),
    (b'{"op": "press", "input": "doorbell"}\n', "unknown input 'doorbell'"),
    (b'{"op": "ack", "fault": "none-such"}\n', "no active fault"),
    (b'\xff\xfe\n', "not valid JSON"),
    (b'{"op": "status", "id": [1]}\n', "id"),
]


@pytest.mark.parametrize("payload, expected", GARBAGE)
async def test_garbage_gets_an_error_and_changes_nothing(running, payload, expected):
    controller, events = running
    path = controller.server.path
    before = controller.engine.status()
    reply, after_garbage = await _raw(path, payload + b'{"op": "ping", "id": 9}\n', replies=2)
    assert reply["ok"] is False and expected in reply["error"], reply
    assert after_garbage == {"id": 9, "ok": True, "pong": True}, "the connection stays usable"
    assert "\n" not in reply["error"] and "Traceback" not in reply["error"]
    after = controller.engine.status()
    assert after["activations"] == before["activations"] == []
    assert after["outputs"] == before["outputs"]


async def test_connection_survives_garbage_and_huge_lines(running):
    controller, _ = running
    huge = b'{"op": "ping", "pad": "' + b"x" * (200 * 1024) + b'"}\n'
    replies = await _raw(controller.server.path, huge + b"nonsense\n" + b'{"op":"ping","id":3}\n', 3)
    assert "longer than" in replies[0]["error"]
    assert replies[1]["ok"] is False
    assert replies[2] == {"id": 3, "ok": True, "pong": True}


async def test_half_a_line_then_hang_up(running):
    controller, _ = running
    replies = await _raw(controller.server.path, b'{"op": "trig', replies=0)
    assert replies == []
    reader, writer = await asyncio.open_unix_connection(str(controller.server.path))
    writer.write(b'{"op": "trig')
    writer.write_eof()
    line = await asyncio.wait_for(reader.readline(), 5)
    assert "without a newline" in json.loads(line)["error"]
    writer.close()
    assert controller.engine.activations == {}


async def test_socket_is_group_only_and_operator_is_the_peer(running):
    controller, events = running
    mode = os.stat(controller.server.path).st_mode & 0o777
    assert mode == 0o660
    client = AsyncClient(controller.server.path)
    await client.connect()
    try:
        reply = await client.request("trigger", scenario="fire", drill=True)
        event = await events.wait("triggered", activation=reply["activation"])
        me = pwd.getpwuid(os.getuid()).pw_name
        assert event["origin"] == f"{me} (uid {os.getuid()})"
        assert event["source"] == "operator"
    finally:
        await client.close()


async def test_two_clients_see_the_same_events(running):
    controller, _ = running
    a, b = AsyncClient(controller.server.path), AsyncClient(controller.server.path)
    await a.connect()
    await b.connect()
    try:
        await a.request("subscribe")
        await b.request("subscribe")
        reply = await a.request("trigger", scenario="explosion", drill=True)
        for client in (a, b):
            async with asyncio.timeout(5):
                while True:
                    event = await client.events.get()
                    if event["kind"] == "triggered":
                        assert event["activation"] == reply["activation"]
                        break
        status = (await b.request("status"))["status"]
        assert status["mode"] == "DRILL"
        await b.request("clear", all=True)
        assert controller.engine.activations == {}
    finally:
        await a.close()
        await b.close()


async def test_tick_form_silence_confirm_over_the_socket(running):
    controller, events = running
    client = AsyncClient(controller.server.path)
    await client.connect()
    try:
        act = (await client.request("trigger", scenario="armed_attack"))["activation"]
        await client.request("tick", activation=act, role="leader", item=0)
        tick = await events.wait("checklist_tick", activation=act)
        assert tick["role"] == "leader" and tick["done"] is True
        await client.request("silence", activation=act)
        await events.wait("silenced", activation=act)
        held = await client.request("trigger", scenario="fire")
        assert held["state"] == "active", "an operator's evacuation is never held"
        await client.request("clear", all=True)
        assert controller.engine.activations == {}
    finally:
        await client.close()


PLAIN = [
    ({"op": "briefing", "person": "x", "by": "y", "date": "2026-02-30"},
     "date: 2026-02-30 is not a date (YYYY-MM-DD)"),
    ({"op": "briefing", "person": "x", "by": "y", "date": "20260230"},
     "date: 20260230 is not a date (YYYY-MM-DD)"),
    ({"op": "briefing", "person": "", "by": "y"}, "person: must not be empty"),
    ({"op": "ack", "fault": ""}, "fault: must not be empty"),
    ({"op": "drill_record", "activation": "a", "participants": -3},
     "participants: must be at least 0, not -3"),
    ({"op": "press", "input": "a", "hold": 100}, "hold: must be at most 10, not 100"),
    ({"op": "trigger", "scenario": "FIRE!"},
     "scenario: 'FIRE!' is not a name (small Latin letters, digits and _)"),
    ({"op": "trigger", "scenario": "fire", "drill": "maybe"}, "drill: expected true or false"),
    ({"op": "press", "input": "a", "hold": "5"}, "hold: expected a number"),
    ({"op": "tick", "activation": "x", "role": "janitor", "item": 1},
     "role: 'janitor' is not one of leader, staff"),
    ({"op": "tick", "activation": "x", "role": "leader", "item": 1.5},
     "item: expected a whole number"),
    ({"op": "trigger", "scenario": "fire", "zones": "hall"}, "zones: expected a list"),
    ({"op": "trigger", "scenario": "fire", "zones": ["a"] * 65}, "zones: at most 64 items"),
    ({"op": "form", "activation": "a", "answers": {"voice": "x" * 4001}},
     "answers.voice: at most 4000 characters"),
    ({"op": "form", "activation": "a", "answers": {"Voice": "x"}},
     "answers.Voice: 'Voice' is not a name (small Latin letters, digits and _)"),
    ({"op": "status", "id": [1]}, "id: expected a whole number or text"),
]


async def test_invalid_values_are_said_in_plain_words(running):
    """The reason a request is refused, as an operator reads it: the field and what is
    wrong with the value, never the validator's own wording."""
    controller, _events = running
    lines = b"".join(json.dumps(request).encode() + b"\n" for request, _ in PLAIN)
    replies = await _raw(controller.server.path, lines, replies=len(PLAIN))
    said = [reply.get("error") for reply in replies]
    assert said == [expected for _, expected in PLAIN]
    assert all(reply.get("invalid") is True for reply in replies)
