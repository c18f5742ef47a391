"""How a measured value is written in tables and reports; "–" where nothing was measured."""

MISSING = "–"


def pct(value) -> str:
    """A fraction as a percentage."""
    return MISSING if value is None else f"{100 * value:.1f}%"


def ms(value, unit: bool = True) -> str:
    return MISSING if value is None else f"{value:.2f}" + (" ms" if unit else "")


def megabytes(value) -> str:
    return MISSING if value is None else f"{value / 1e6:.2f} MB"


def number(value, spec: str = "") -> str:
    return MISSING if value is None else format(value, spec)
