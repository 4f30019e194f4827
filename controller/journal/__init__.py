"""The journal: an append-only, hash-chained, signed SQLite log of everything dabyl does.

- `store`: the files (segments of one chain, head, spill), rows and their hashes;
- `writer`: `Journal`, the one writer, with durable acknowledgements, the spill file,
  rotation and recovery from damage;
- `state`: `Recovered`, the snapshot of what is open that a start resumes from;
- `signing`: the Ed25519 key that signs checkpoints, seals and the head;
- `verify`: `dabyl journal verify`;
- `reading`: paged queries for people, on a reader worker of their own.
"""

from controller.journal.reading import (
    JournalReader,
    activation_rows,
    activations,
    anchor,
    anchor_text,
    export_csv,
    find_triggered,
    list_activations,
    rows_of_kinds,
)
from controller.journal.state import TERMINAL_KINDS, Recovered, recover
from controller.journal.store import (
    GENESIS,
    JournalDamaged,
    Row,
    head_path,
    iter_rows,
    now_iso,
    public_key_path,
    read_rows,
    row_hash,
    segment_files,
    spill_path,
)
from controller.journal.verify import Verdict, verify
from controller.journal.writer import DAMAGE_FAULT, Journal

__all__ = [
    "DAMAGE_FAULT", "GENESIS", "TERMINAL_KINDS", "Journal", "JournalDamaged", "JournalReader",
    "Recovered", "Row", "Verdict", "activation_rows", "activations", "anchor", "anchor_text",
    "export_csv", "find_triggered", "head_path", "iter_rows", "list_activations", "now_iso",
    "public_key_path", "read_rows", "recover", "row_hash", "rows_of_kinds", "segment_files",
    "spill_path", "verify",
]
