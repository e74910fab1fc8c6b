"""Kubernetes resource quantities as apimachinery parses and prints them (`resource.Quantity`).

The apiserver stores every quantity of a built-in object in canonical form, so a controller must
compare normalised values: `0.5` → `500m`, `1000m` → `1`, `1.5Gi` → `1536Mi`, `1024Mi` → `1Gi`,
`1e3` → `1e3` (the exponent form is kept), and anything finer than a milli rounds up to `1m`.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items() if v >= -3}


class QuantityError(ValueError):
    pass


def parse(value: str | int | float) -> tuple[Fraction, str]:
    """(exact value, format) where format is "BinarySI", "DecimalSI" or "DecimalExponent"."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, float) and not math.isfinite(value):
        raise QuantityError(f"{value!r} is not a quantity")
    text = repr(value) if isinstance(value, float) else str(value)
    match = _QUANTITY.match(text.strip() if isinstance(value, (int, float)) else text)
    if match is None:
        raise QuantityError(f"quantities must match the regular expression "
                            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got {text!r})")
    number, suffix = Fraction(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        return number * 1024 ** _BINARY[suffix], "BinarySI"
    if suffix in _DECIMAL:
        return number * Fraction(10) ** _DECIMAL[suffix], "DecimalSI"
    return number * Fraction(10) ** int(suffix[1:]), "DecimalExponent"


def _round_up_milli(value: Fraction) -> Fraction:
    scaled = value * 1000
    return Fraction(math.ceil(scaled), 1000) if scaled.denominator != 1 else value


def canonical(value: str | int | float) -> str:
    """The string the apiserver stores for a quantity."""
    amount, fmt = parse(value)
    amount = _round_up_milli(amount)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if fmt == "BinarySI" and amount >= 1024 and amount.denominator == 1:
        whole, power = int(amount), 0
        while power < 6 and whole % 1024 == 0 and whole:
            whole //= 1024
            power += 1
        suffix = {v: k for k, v in _BINARY.items()}.get(power, "")
        return f"{sign}{whole}{suffix}"
    # decimal forms: the largest exponent (a multiple of 3, at least -3) with an integral mantissa
    exponent = -3
    mantissa = amount * 1000
    while mantissa and mantissa.denominator == 1 and int(mantissa) % 1000 == 0 and exponent < 18:
        mantissa /= 1000
        exponent += 3
    mantissa_int = int(mantissa)
    if mantissa_int == 0:
        return "0"
    if fmt == "DecimalExponent":
        return f"{sign}{mantissa_int}" + (f"e{exponent}" if exponent else "")
    return f"{sign}{mantissa_int}{_DECIMAL_SUFFIX[exponent]}"


def value(quantity: str | int | float) -> Fraction:
    return parse(quantity)[0]
