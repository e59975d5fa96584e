"""The cache's housekeeping for people: ages and sizes as they are typed (``30d``, ``2GB``), the keys a
published site still needs, and what ``reportgen cache info`` prints. The cache's layout and its
removals stay in ``reportgen.core.cache``."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from reportgen.core.cache import Cache
from reportgen.core.choices import ParamError

AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
              "k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20, "g": 2**30, "gib": 2**30, "tib": 2**40}
_AMOUNT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*")


def parse_age(flag: str, text: str) -> float:
    """``30d`` -> seconds (s, m, h, d, w)."""
    match = _AMOUNT.fullmatch(text)
    if match is None or match.group(2).lower() not in AGE_UNITS:
        raise ParamError(f"{flag}: {text!r} is not an age such as 90s, 45m, 12h, 30d or 2w")
    return float(match.group(1)) * AGE_UNITS[match.group(2).lower()]


def parse_size(flag: str, text: str) -> int:
    """``2GB`` -> bytes (kB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB and K, M, G in powers of 1024)."""
    match = _AMOUNT.fullmatch(text)
    if match is None or match.group(2).lower() not in SIZE_UNITS:
        raise ParamError(f"{flag}: {text!r} is not a size such as 500MB, 2GB or 1.5GiB")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])


def human_size(size: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def site_keys(site: Path) -> set[str]:
    """The cache keys of every artifact the gallery in ``site`` shows (its ``manifest.json``)."""
    path = Path(site) / "manifest.json"
    try:
        artifacts = json.loads(path.read_text(encoding="utf-8"))["artifacts"]
        return {artifact["key"] for artifact in artifacts}
    except OSError:
        raise ParamError(f"--unused-by: {path} does not exist; name a folder a build wrote (its --out)") from None
    except (ValueError, KeyError, TypeError):
        raise ParamError(f"--unused-by: {path} is not a reportgen manifest") from None


@dataclass(frozen=True)
class CacheSummary:
    folder: Path
    exists: bool  # a reportgen cache is there (its marker)
    entries: int
    size: int  # bytes of the entries
    models: dict[str, int]  # model -> its entries ("?" for entries that do not record it)
    cards: int
    oldest_use: float | None
    newest_use: float | None


def summarise(cache: Cache) -> CacheSummary:
    stored = cache.stored()
    models: dict[str, int] = {}
    for item in stored:
        models[item.model or "?"] = models.get(item.model or "?", 0) + 1
    return CacheSummary(cache.root, cache.is_claimed(), len(stored), sum(item.size for item in stored),
                        dict(sorted(models.items())), len(cache.cards()),
                        stored[0].last_use if stored else None, stored[-1].last_use if stored else None)


def info_lines(summary: CacheSummary) -> list[str]:
    if not summary.exists:
        return [f"no reportgen cache at {summary.folder}"]
    lines = [f"cache {summary.folder}: {summary.entries} entries, {human_size(summary.size)}, {summary.cards} model cards"]
    if summary.models:
        lines.append("models: " + ", ".join(f"{model} ({count})" for model, count in summary.models.items()))
    if summary.oldest_use is not None:
        lines.append(f"last used: oldest {_when(summary.oldest_use)}, newest {_when(summary.newest_use)}")
    return lines


def info_json(summary: CacheSummary) -> str:
    return json.dumps({"folder": str(summary.folder), "exists": summary.exists, "entries": summary.entries,
                       "bytes": summary.size, "models": summary.models, "cards": summary.cards,
                       "oldest_use": _iso(summary.oldest_use), "newest_use": _iso(summary.newest_use)}, indent=1)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    days = (time.time() - epoch) / 86400
    age = f"{days:.0f} days ago" if days >= 1.5 else "today" if days < 1 else "yesterday"
    return f"{_iso(epoch)} ({age})"


def _iso(epoch: float | None) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch)) if epoch is not None else None
