"""Human-readable numbers for cards, tables and chart labels."""

from __future__ import annotations


def bytes_(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def count(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:,.2f} {unit}"
    return f"{n:,.0f}"


def ms(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:.2f} ms" if v < 100 else f"{v:,.0f} ms")


def speedup(v: float | None, lo: float | None = None, hi: float | None = None) -> str:
    """A paired speed-up with its interquartile range: '2.46x (IQR 2.40-2.52x)'."""
    if v is None:
        return "n/a"
    spread = f" (IQR {lo:.2f}-{hi:.2f}x)" if lo is not None and hi is not None else ""
    return f"{v:.2f}x{spread}"
