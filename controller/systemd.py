"""Running under systemd: readiness, status and the watchdog (sd_notify), and the unit.

`Type=notify`: the controller says READY=1 only once the outputs are where the engine
wants them (at rest, unless an alarm was resumed) and every announcement is rendered,
so `systemctl start` returns when the site can really broadcast. The watchdog is fed
from the alarm path: a ping goes out only while the controller's own health check
passes (the audio loop, every device supervisor and the journal writer alive); if any
of them is gone, the pings stop and systemd restarts the controller.

The notify protocol is spoken by libsystemd itself (the cysystemd wheel bundles it).
Outside systemd (no $NOTIFY_SOCKET) nothing is sent.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

log = logging.getLogger("dabyl.systemd")


class Notifier:
    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self.watchdog: float | None = None
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        if self.enabled and usec.isdigit() and int(usec) > 0 and pid in ("", str(os.getpid())):
            self.watchdog = int(usec) / 1_000_000
        self._notify = None
        if self.enabled:
            try:
                from cysystemd.daemon import Notification, notify
            except ImportError as exc:
                log.error("systemd asked for notifications, but cysystemd is missing: %s", exc)
                self.enabled = False
            else:
                self._notify, self._kinds = notify, Notification

    def _send(self, kind: str, value: str | None = None) -> None:
        if self._notify is None:
            return
        result = self._notify(getattr(self._kinds, kind), value)
        if isinstance(result, Exception):
            log.warning("sd_notify %s failed: %s", kind, result)

    def ready(self, status: str) -> None:
        self._send("READY")
        self._send("STATUS", status)

    def status(self, text: str) -> None:
        self._send("STATUS", text)

    def ping(self) -> None:
        self._send("WATCHDOG")

    def stopping(self) -> None:
        self._send("STOPPING")


UNIT = """\
# dabyl: the public-address alerting controller of this site.
# Written by `dabyl service install`; see README, "Running as a service".
[Unit]
Description=dabyl public-address alerting controller
Documentation=man:systemd.service(5)
# Devices on the network, the sound card and a synchronised clock, when there are any;
# dabyl starts without them and shows a fault.
After=network-online.target time-sync.target sound.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={dabyl} serve --config {config}
ExecReload={dabyl} reload --config {config}
User={user}
Group={user}
# dialout: serial relay boards and USB adapters; audio: the sound card;
# {group}: the operators' group, which owns the control socket's directory.
SupplementaryGroups=dialout audio {group}
Environment=DABYL_CONFIG={config}
# /run/dabyl (socket), /var/lib/dabyl (journal, cache, voices), /etc/dabyl (config).
RuntimeDirectory=dabyl
RuntimeDirectoryMode=0750
StateDirectory=dabyl
StateDirectoryMode=0750
ConfigurationDirectory=dabyl
UMask=0027
# The watchdog is fed from the alarm path; 10 s without a ping is a restart.
WatchdogSec={watchdog}
# The first start renders every announcement (minutes with a Piper voice on a small
# board); later starts are ready in seconds.
TimeoutStartSec=15min
TimeoutStopSec=30
Restart=always
RestartSec=2
# An alarm controller should win against other work for the CPU.
Nice=-5
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes

[Install]
WantedBy=multi-user.target
"""


def unit_text(config: Path, user: str = "dabyl", group: str = "dabyl-operators",
              watchdog: int = 10, dabyl: Path | None = None) -> str:
    exe = dabyl or _dabyl_executable()
    return UNIT.format(dabyl=exe, config=config, user=user, group=group, watchdog=watchdog)


def _dabyl_executable() -> Path:
    """The `dabyl` script of this installation (beside this Python, as pip puts it)."""
    beside = Path(sys.executable).parent / "dabyl"
    if beside.exists():
        return beside
    found = shutil.which("dabyl")
    return Path(found) if found else beside
