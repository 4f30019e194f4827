"""The journal's signing key: Ed25519, created at first start, kept outside the journal's
directory with mode 0600, so someone who can write the journal files cannot re-sign them.

What is signed is a short, fixed text naming the purpose, a row number and that row's
hash (and, for the head, the digest of the snapshot it carries). Beside the key lies the
last row it signed (`journal.key.last`): a journal found older than that was rolled back.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from controller.journal.store import read_json, write_atomic

DOMAIN = "dabyl journal v1"


class KeyError_(Exception):
    """The signing key cannot be read or created."""


def message(purpose: str, seq: int, digest: str, ts: str, extra: str = "") -> bytes:
    return "\n".join([DOMAIN, purpose, str(seq), digest, ts, extra]).encode()


def fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest()[:20]
    return "-".join(digest[i:i + 4] for i in range(0, 20, 4))


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise KeyError_(f"{path}: not a public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyError_(f"{path}: not an Ed25519 public key")
    return key


class Signer:
    def __init__(self, private: Ed25519PrivateKey, path: Path) -> None:
        self.private = private
        self.public = private.public_key()
        self.path = path
        self.fingerprint = fingerprint(self.public)

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self.private.sign(payload)).decode()

    @property
    def witness_path(self) -> Path:
        return self.path.with_name(self.path.name + ".last")

    def witness(self) -> dict | None:
        found = read_json(self.witness_path)
        return None if found is None or "unreadable" in found else found

    def remember(self, seq: int, digest: str, ts: str) -> None:
        """The newest row signed; not fsynced (it may lag after a power cut, never lead)."""
        import json

        write_atomic(self.witness_path, json.dumps({"seq": seq, "hash": digest, "ts": ts}).encode(),
                     sync=False, mode=0o600)

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        try:
            if path.exists():
                mode = path.stat().st_mode & 0o777
                if mode & 0o077:
                    os.chmod(path, 0o600)
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if not isinstance(key, Ed25519PrivateKey):
                    raise KeyError_(f"{path}: not an Ed25519 private key")
                return cls(key, path)
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, pem)
                os.fsync(fd)
            finally:
                os.close(fd)
            return cls(key, path)
        except KeyError_:
            raise
        except (OSError, ValueError, TypeError) as exc:
            raise KeyError_(f"{path}: {exc}") from None


def check(public: Ed25519PublicKey, sig: str, payload: bytes) -> bool:
    try:
        public.verify(base64.b64decode(sig, validate=True), payload)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
