"""`dabyl backup OUT`: a consistent copy of what a site cannot lose.

The journal is copied with SQLite's backup API (a file copy of a live WAL database can
be torn), the head record before it (so the copy is never "truncated" against its own
head), then the journal's public keys, config.toml and the scenarios. A running
controller goes on meanwhile. `dabyl journal verify OUT/journal.sqlite` checks the copy.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from controller.config import Config
from controller.errors import OperationFailed
from controller.journal import head_path


def backup(config: Config, out: Path) -> list[str]:
    journal = config.path(config.control.journal)
    if out.exists() and any(out.iterdir()):
        raise OperationFailed(f"{out} is not empty; a backup goes into a new directory")
    if not journal.is_file():
        raise OperationFailed(f"no journal at {journal}")
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o750)
    done = []
    head = head_path(journal)
    if head.exists():
        shutil.copy2(head, out / head.name)
    target = out / journal.name
    try:
        source = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=10)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
    except sqlite3.Error as exc:
        raise OperationFailed(f"the journal cannot be copied: {exc}") from None
    os.chmod(target, 0o640)
    rows = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        count = rows.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        rows.close()
    done.append(f"journal: {count} rows -> {target}")
    for key in sorted(journal.parent.glob("*.pub")):
        shutil.copy2(key, out / key.name)
        done.append(f"key: {key.name}")
    shutil.copy2(config.source, out / "config.toml")
    shutil.copytree(config.scenarios_dir, out / "scenarios",
                    ignore=shutil.ignore_patterns("*.tmp", "*.new"))
    done.append(f"config and {len(list((out / 'scenarios').glob('*.toml')))} scenario files")
    done.append(f"check it: dabyl journal verify {target}")
    return done
