"""Text normalisation before synthesis: numbers, "№", units and punctuation.

Numbers become words in the language (num2words `kz` and `ru`); emergency numbers
read as people say them ("сто два", "жүз екі"); a leading "one" before thousands is
dropped as in speech ("тысяча двести сорок", "мың екі жүз қырық").
"""

from __future__ import annotations

import re

from num2words import num2words

_LANG = {"kk": "kz", "ru": "ru"}
_NUMBER = re.compile(r"(?<![\w])(\d+(?:[.,]\d+)?)(?![\w])")
_SIGN = {"kk": "нөмірі", "ru": "номер"}
_UNITS = {
    "kk": {"м": "метр", "км": "километр", "г": "грамм", "л": "литр"},
    "ru": {"м": "метров", "км": "километров", "г": "грамм", "л": "литра"},
}
STRESS = "\u0301"


def number_words(value: str, language: str) -> str:
    lang = _LANG[language]
    if "," in value or "." in value:
        words = num2words(float(value.replace(",", ".")), lang=lang)
    else:
        words = num2words(int(value), lang=lang)
    if language == "ru":
        words = re.sub(r"^одна тысяча", "тысяча", words)
    else:
        words = re.sub(r"^бір мың", "мың", words)
    return words


def normalize(text: str, language: str, keep_stress: bool = False) -> str:
    """Turn display text into what a speech engine should read."""
    if language not in _LANG:
        raise ValueError(f"unsupported language {language!r}")
    out = text.replace("«", "").replace("»", "").replace('"', "")
    out = out.replace("№", f" {_SIGN[language]} ")
    out = re.sub(r"\s+[—–]\s+", ", ", out)
    for short, full in _UNITS[language].items():
        out = re.sub(rf"(\d)\s*{short}\.?(?=\s|$|[,.;])", rf"\1 {full}", out)
    out = _NUMBER.sub(lambda m: number_words(m.group(1), language), out)
    if not keep_stress:
        out = out.replace(STRESS, "")
    return re.sub(r"[ \t]+", " ", out).strip()
