"""`dabyl bench`: latency and footprint of the controller, measured on this machine.

The bench is made of suites (one module each, listed in SUITES). A suite runs the
controller on temporary copies of the site and returns Figures: samples, the target
from SPEC §11, the physical limit of the same work where one exists (wire time on a
serial line, say), and what the standard allows. Each round starts from rest.

A suite is a module with `NAME` and `measure(ctx: BenchContext) -> list[Figure]`.
`dabyl bench --only NAME` runs one suite.
"""

from __future__ import annotations

import importlib
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

from controller.bench.common import BenchContext, Figure, percentiles
from controller.config import load_config

SUITES = (
    "controller.bench.alarm",
    "controller.bench.audio",
    "controller.bench.rtu",
    "controller.bench.lines",
    "controller.bench.idle",
    "controller.bench.texts",
    "controller.bench.journal",
    "controller.bench.service",
    "controller.bench.consoles",
)

__all__ = ["SUITES", "BenchContext", "Figure", "format_report", "percentiles", "run"]


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, "
            f"Python {platform.python_version()}")


def suite_names() -> list[str]:
    return [importlib.import_module(m).NAME for m in SUITES]


def run(config_path: Path | None, rounds: int, idle_seconds: float,
        only: list[str] | None = None) -> dict[str, Any]:
    base = load_config(config_path)
    report: dict[str, Any] = {"machine": machine(), "rounds": rounds, "figures": {},
                              "notes": []}
    work = Path(tempfile.mkdtemp(prefix="dabyl-bench-"))
    try:
        ctx = BenchContext(base, work, rounds, idle_seconds)
        for module_name in SUITES:
            module = importlib.import_module(module_name)
            if only and module.NAME not in only:
                continue
            for figure in module.measure(ctx):
                report["figures"][figure.name] = figure.as_dict()
        report["notes"] = ctx.notes
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["within_target"] = all(f["within_target"] for f in report["figures"].values())
    return report


def _num(value: float) -> str:
    return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"


def format_report(report: dict[str, Any]) -> str:
    lines = [f"dabyl bench on {report['machine']}", ""]
    lines.append(f"{'measure':<62} {'n':>4} {'p50':>9} {'p95':>9} {'max':>9}  target")
    for fig in report["figures"].values():
        verdict = "ok" if fig["within_target"] else "OVER"
        unit = fig["unit"]
        extra = ""
        if fig.get("limit") is not None:
            extra += f"; physical limit {_num(fig['limit'])} {unit}"
            if fig.get("limit_note"):
                extra += f" ({fig['limit_note']})"
        if fig.get("standard"):
            extra += f"; {fig['standard']}: {fig['margin_vs_standard']}× margin"
        lines.append(
            f"{fig['label']:<62} {fig['n']:>4} {_num(fig['p50']):>9} {_num(fig['p95']):>9} "
            f"{_num(fig['max']):>9}  {fig['target_text']} {verdict}{extra}"
        )
    if report.get("notes"):
        lines.append("")
        lines += report["notes"]
    return "\n".join(lines)
