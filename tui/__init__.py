"""The duty officer's terminal UI (Textual), a client of the control API."""
