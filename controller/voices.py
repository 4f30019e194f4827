"""Installing Piper voices: from the voices catalog where the site is online, or from a
folder or file carried on a USB stick where it is not.

A voice is two files, `NAME.onnx` and `NAME.onnx.json`. From the catalog (Piper's
`voices.json`: each voice's files with their size and MD5), both are downloaded,
checked against the catalog and only then put in place. From a stick, each voice found
is loaded and made to speak before it is copied in. Either way nothing half-installed
is ever left in the voices folder, and the announcements are rendered afterwards.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from controller.errors import OperationFailed

CATALOG = "https://huggingface.co/rhasspy/piper-voices/resolve/main/voices.json"
TEST_SENTENCE = {"kk": "Назар аударыңыздар.", "ru": "Внимание."}


def language_of(name: str) -> str:
    """`kk_KZ-issai-high` speaks kk."""
    return name.split("_", 1)[0].split("-", 1)[0]


def _fetch(url: str, target: Path | None = None) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            if target is None:
                return response.read()
            with target.open("wb") as fh:
                shutil.copyfileobj(response, fh)
            return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OperationFailed(f"cannot download {url}: {reason}") from None


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(catalog: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    if name in catalog:
        return name, catalog[name]
    for key, entry in catalog.items():
        if name in entry.get("aliases", []):
            return key, entry
    raise OperationFailed(f"no voice {name!r} in the catalog")


def install_from_catalog(name: str, voices_dir: Path, catalog_url: str = CATALOG) -> Path:
    """Download one voice and its config, checked against the catalog's sizes and MD5."""
    raw = _fetch(catalog_url)
    try:
        catalog = json.loads(raw or b"")
    except ValueError:
        raise OperationFailed(f"{catalog_url}: not a voices catalog (JSON)") from None
    if not isinstance(catalog, dict):
        raise OperationFailed(f"{catalog_url}: not a voices catalog")
    key, entry = _entry(catalog, name)
    files = entry.get("files", {})
    wanted = {suffix: next((p for p in files if p.endswith(suffix)), None)
              for suffix in (".onnx", ".onnx.json")}
    if None in wanted.values():
        raise OperationFailed(f"the catalog lists no model and config for {key}")
    voices_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=voices_dir, prefix=".download-") as tmp:
        staged = Path(tmp)
        for suffix, path in wanted.items():
            assert path is not None
            target = staged / f"{key}{suffix}"
            _fetch(urllib.parse.urljoin(catalog_url, path), target)
            expected = files[path]
            size = target.stat().st_size
            if size != expected.get("size_bytes", size):
                raise OperationFailed(f"{key}{suffix}: {size} bytes, the catalog says "
                                      f"{expected['size_bytes']}: nothing installed")
            if expected.get("md5_digest") and _md5(target) != expected["md5_digest"]:
                raise OperationFailed(f"{key}{suffix}: checksum does not match the catalog: "
                                      "nothing installed")
        speak(staged / f"{key}.onnx")
        return _put_in_place(staged / f"{key}.onnx", voices_dir)


def install_from(source: Path, voices_dir: Path) -> list[Path]:
    """Every voice in a folder (or the one `.onnx` named), each checked to speak."""
    if source.is_dir():
        models = sorted(source.glob("*.onnx"))
    elif source.suffix == ".onnx" and source.is_file():
        models = [source]
    else:
        raise OperationFailed(f"{source}: neither a folder nor a .onnx voice file")
    if not models:
        raise OperationFailed(f"{source}: no .onnx voice in this folder")
    for model in models:
        if not Path(f"{model}.json").is_file():
            raise OperationFailed(f"{model.name}: its config {model.name}.json is missing")
        speak(model)
    voices_dir.mkdir(parents=True, exist_ok=True)
    return [_put_in_place(model, voices_dir) for model in models]


def speak(model: Path) -> None:
    """Load the voice and make it say one sentence; raise with the reason if it cannot."""
    from audio.tts import PiperEngine, SpeechUnavailable

    language = language_of(model.name)
    try:
        engine = PiperEngine(language, model)
        samples, _ = engine.synthesize(TEST_SENTENCE.get(language, "test"))
    except SpeechUnavailable as exc:
        raise OperationFailed(f"{model.name}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a broken voice must not install
        raise OperationFailed(f"{model.name} does not speak: {exc}") from None
    if len(samples) == 0:
        raise OperationFailed(f"{model.name} loads but says nothing")


def _put_in_place(model: Path, voices_dir: Path) -> Path:
    """Config first, then the model, each by rename: `auto` looks for the model, so it
    never sees one without its config."""
    target = voices_dir / model.name
    for src, dst in ((Path(f"{model}.json"), Path(f"{target}.json")), (model, target)):
        tmp = dst.with_name(dst.name + ".part")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    return target
