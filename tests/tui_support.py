"""What the console tests share: waiting on the app, reading the screen as text (the
whole of it, or just what one widget shows), typing like a terminal does, and a site
in a chosen language.

Everything here reads what an officer would see: the screen is rebuilt from Textual's
own SVG export, and keys go through Textual's terminal parser as bytes would.
"""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from typing import Any

from textual._xterm_parser import XTermParser

from tests.conftest import make_site, start_controller

CHAR_WIDTH, LINE_HEIGHT, FIRST_LINE = 12.2, 24.4, 20.0
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


async def until(pilot, predicate, timeout: float = 10.0) -> None:
    """Let the app process messages until the predicate holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await pilot.pause(0.02)


def screen_name(app) -> str:
    return type(app.screen).__name__


def screen_lines(app) -> list[str]:
    """The screen as text lines, rebuilt from Textual's SVG export."""
    svg = app.export_screenshot()
    rows: dict[int, list[tuple[int, str]]] = {}
    for x, y, content in re.findall(r'<text[^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        row = (float(y) - FIRST_LINE) / LINE_HEIGHT
        if abs(row - round(row)) > 0.01:
            continue  # the window title, not a terminal line
        rows.setdefault(round(row), []).append((round(float(x) / CHAR_WIDTH), html.unescape(content)))
    lines = []
    for r in range(app.size.height):
        line = ""
        for col, chunk in sorted(rows.get(r, [])):
            line = line.ljust(col) + chunk
        lines.append(line.replace("\xa0", " ").rstrip())
    return lines


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


def visible(app, selector) -> str:
    """What the widget (or the widget of a selector on the active screen) shows right
    now: its part of the screen, clipped by whatever scrolls or covers it."""
    widget = app.screen.query_one(selector) if isinstance(selector, str) else selector
    try:
        geometry = app.screen.find_widget(widget)
    except Exception:  # noqa: BLE001 - not on screen at all
        return ""
    inner = geometry.region.shrink(widget.styles.gutter).shrink(widget.scrollbar_gutter)
    region = inner.intersection(geometry.clip)
    lines = screen_lines(app)
    out = []
    for y in range(region.y, region.y + region.height):
        line = lines[y] if y < len(lines) else ""
        out.append(line.ljust(region.right)[region.x:region.right].rstrip())
    return "\n".join(out)


def flat(text: str) -> str:
    """Text with its line breaks and runs of spaces made single spaces (wrapped text
    compares with the original)."""
    return " ".join(text.split())


def shows(app, selector: str, text: str) -> bool:
    return flat(text) in flat(visible(app, selector))


async def type_raw(pilot, data: str) -> None:
    """Send `data` as a terminal sends bytes: through Textual's xterm parser."""
    app = pilot.app
    parser = XTermParser()
    for event in [*parser.feed(data), *parser.tick()]:
        event.set_sender(app)
        app._driver.send_message(event)
        await pilot.pause()


def site_in(directory: Path, cache: Path, language: str, change=None) -> Path:
    def choose(cfg: dict[str, Any]) -> None:
        cfg["site"]["ui_language"] = language
        if change is not None:
            change(cfg)

    return make_site(directory, cache, change=choose)


async def controller_in(directory: Path, cache: Path, language: str, change=None):
    return await start_controller(site_in(directory, cache, language, change))


def held_ready(app) -> bool:
    """The held-evacuation prompt is in front of the officer and takes keys (it drops
    those that come within its first half second)."""
    import time

    return (screen_name(app) == "HeldScreen" and app.focused is not None
            and time.monotonic() >= app.screen.keys_from)
