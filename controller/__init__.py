"""dabyl controller: configuration, scenarios, engine, journal, control API and CLI."""
