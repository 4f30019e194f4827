"""Bad input of every kind gets one clear error and changes nothing else."""

from __future__ import annotations

import asyncio
import copy
import json
import random
import shutil
import tomllib

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.api import OPS, parse_request
from controller.config import load_config
from controller.errors import ConfigurationError, RequestInvalid
from controller.scenarios import load_library
from tests.conftest import DEMO, ROOT

LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
    st.text(max_size=20), st.lists(st.integers(-5, 300), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(data, prefix=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, (*prefix, i))
    yield prefix


def _set(data, path, value):
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


CONFIG_PATHS = [p for p in _paths(DEMO) if p]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(CONFIG_PATHS), value=LEAVES)
def test_any_mutated_config_loads_or_fails_with_clear_lines(tmp_path, path, value):
    cfg = copy.deepcopy(DEMO)
    cfg["scenarios"] = str(ROOT / "scenarios")
    _set(cfg, path, value)
    target = tmp_path / "config.toml"
    target.write_text(tomli_w.dumps(_drop_none(cfg)))
    try:
        config = load_config(target)
        load_library(config.scenarios_dir, config)
    except ConfigurationError as exc:
        assert exc.problems and all(line.strip() and "\n" not in line for line in exc.problems)


FIRE = tomllib.loads((ROOT / "scenarios" / "fire.toml").read_text())
SCENARIO_PATHS = [p for p in _paths(FIRE) if p]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(SCENARIO_PATHS), value=LEAVES)
def test_any_mutated_scenario_loads_or_fails_with_clear_lines(tmp_path_factory, path, value):
    directory = tmp_path_factory.mktemp("scn")
    shutil.copy(ROOT / "scenarios" / "_shared.toml", directory)
    data = copy.deepcopy(FIRE)
    _set(data, path, value)
    (directory / "fire.toml").write_text(tomli_w.dumps(_drop_none(data)))
    try:
        library = load_library(directory)
        assert "fire" in library.scenarios
    except ConfigurationError as exc:
        assert exc.problems
        assert all("fire.toml" in line or "_shared" in line for line in exc.problems)


REQUEST = st.fixed_dictionaries(
    {"op": st.sampled_from([*OPS, "boom", ""])},
    optional={
        "scenario": st.one_of(st.text(max_size=12), st.integers(), st.none()),
        "activation": st.one_of(st.text(max_size=12), st.integers()),
        "zones": st.one_of(st.lists(st.text(max_size=6), max_size=3), st.text(max_size=5)),
        "parameters": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=2),
        "drill": st.one_of(st.booleans(), st.text(max_size=3)),
        "item": st.integers(-5, 2000), "role": st.text(max_size=8),
        "participants": st.integers(-5, 10**6), "level": st.text(max_size=8),
        "extra": st.integers(),
    },
)


@settings(max_examples=400, deadline=None)
@given(REQUEST)
def test_any_request_parses_or_is_refused_clearly(request):
    try:
        parse_request(json.dumps(request).encode())
    except RequestInvalid as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_refused_clearly(line):
    try:
        parse_request(line)
    except RequestInvalid as exc:
        assert str(exc)


async def test_random_requests_on_a_live_socket_never_break_the_controller(running):
    controller, _ = running
    reader, writer = await asyncio.open_unix_connection(str(controller.server.path),
                                                        limit=1 << 24)
    rng = random.Random(284)
    values = [None, True, 3, -1, "fire", "FIRE!", "hall", ["hall"], {"object": "truck"}, "",
              "x" * 300, 2.5, [1, 2]]
    keys = ["scenario", "activation", "zones", "parameters", "drill", "item", "role", "input",
            "level", "fault", "answers", "boom"]
    requests = []
    for _ in range(80):
        request = {"op": rng.choice([*OPS, "boom", 5])}
        for key in rng.sample(keys, rng.randint(0, 4)):
            request[key] = rng.choice(values)
        if request["op"] in ("subscribe", "selftest", "press"):
            request["op"] = "ping"  # keep the stream to replies, and the board quiet
        requests.append(request)
    for request in requests:
        writer.write(json.dumps(request).encode() + b"\n")
    writer.write(b'{"op": "ping", "id": "last"}\n')
    await writer.drain()
    replies = []
    async with asyncio.timeout(20):
        while True:
            reply = json.loads(await reader.readline())
            if "event" in reply:
                continue
            replies.append(reply)
            if reply.get("id") == "last":
                break
    writer.close()
    assert len(replies) == len(requests) + 1, "every request gets one reply"
    assert all("Traceback" not in r.get("error", "") for r in replies)
    assert not any(r.get("error", "").startswith("internal error") for r in replies), replies


async def test_a_flood_of_valid_requests_from_many_clients(running):
    controller, events = running

    async def client(n: int) -> int:
        reader, writer = await asyncio.open_unix_connection(str(controller.server.path),
                                                            limit=1 << 24)
        for i in range(40):
            op = {"op": "trigger", "scenario": "fire", "drill": True} if i % 10 == 0 else \
                {"op": "status"} if i % 2 else {"op": "ping"}
            writer.write(json.dumps({**op, "id": i}).encode() + b"\n")
        await writer.drain()
        answered = 0
        async with asyncio.timeout(60):
            while answered < 40:
                reply = json.loads(await reader.readline())
                if "event" not in reply:
                    assert reply["ok"], reply
                    answered += 1
        writer.close()
        return answered

    counts = await asyncio.gather(*(client(n) for n in range(25)))
    assert counts == [40] * 25
    fires = [a for a in controller.engine.activations.values() if a.scenario.id == "fire"]
    assert len(fires) <= 1, "a flood of the same trigger is one activation"
