"""Validation of uploaded transactions, one dataset at a time (contract §4.1).

A dataset is rejected as a whole, with the first problem as its message, when its
``transactions`` is not a non-empty array or any transaction has a missing/empty
``transactionId``, a ``departureDate`` that is not ``YYYY-MM-DD``, a ``quantity`` that is not a
finite number in [0, 1e12], or a ``unitPrice``/``unitCost`` that is given but not such a number.
Within one upload the last transaction with a given id wins.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from emulator.analytics.calendar import FloatArray, IntArray, parse_day
from emulator.store import Transactions, transaction_key

MAX_QUANTITY = 1e12
MAX_ID = 256
_DATE_LENGTH = 10


class InvalidDatasetError(ValueError):
    """The dataset's transactions break the schema; the message says where."""


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: object, where: str, optional: bool) -> float:
    if value is None and optional:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidDatasetError(f"{where}: {_short(value)} is not a number")
    number = float(value)
    if not (0.0 <= number <= MAX_QUANTITY):  # also rejects NaN
        raise InvalidDatasetError(
            f"{where}: {_short(value)} must be between 0 and {MAX_QUANTITY:g}"
        )
    return number


def _row(item: object, i: int) -> tuple[int, int, float, float, float]:
    where = f"transactions[{i}]"
    if not isinstance(item, dict):
        raise InvalidDatasetError(f"{where}: must be an object, got {_short(item)}")
    tid = item.get("transactionId")
    if not isinstance(tid, str) or not tid or len(tid) > MAX_ID:
        raise InvalidDatasetError(
            f"{where}.transactionId: must be a non-empty string, got {_short(tid)}"
        )
    day = parse_day(item.get("departureDate"))
    if day is None:
        raise InvalidDatasetError(
            f"{where}.departureDate: {_short(item.get('departureDate'))} is not a date YYYY-MM-DD"
        )
    if "quantity" not in item:
        raise InvalidDatasetError(f"{where}.quantity: missing")
    quantity = _number(item["quantity"], f"{where}.quantity", optional=False)
    price = _number(item.get("unitPrice"), f"{where}.unitPrice", optional=True)
    cost = _number(item.get("unitCost"), f"{where}.unitCost", optional=True)
    return transaction_key(tid), day, quantity, price, cost


def _slow(raw: list[Any]) -> Transactions:
    rows = [_row(item, i) for i, item in enumerate(raw)]
    keys, days, quantity, price, cost = zip(*rows, strict=True)
    return Transactions(
        np.array(keys, dtype=np.int64),
        np.array(days, dtype=np.int64),
        np.array(quantity, dtype=np.float64),
        np.array(price, dtype=np.float64),
        np.array(cost, dtype=np.float64),
    )


def _column(values: list[Any], optional: bool) -> FloatArray | None:
    """A float column if every value is a plain number (or None when optional) in range."""
    allowed = (int, float, type(None)) if optional else (int, float)
    if not all(type(v) in allowed for v in values):
        return None
    column = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    present = column[~np.isnan(column)] if optional else column
    ok = bool(np.all((present >= 0.0) & (present <= MAX_QUANTITY)))
    return column if ok else None


def _days(dates: list[Any]) -> IntArray | None:
    """Day numbers if every date is exactly ``YYYY-MM-DD`` and valid, else None."""
    if not all(type(d) is str and len(d) == _DATE_LENGTH for d in dates):
        return None
    try:
        parsed = np.array(dates, dtype="datetime64[D]")
    except ValueError:
        return None
    # numpy also accepts year 0 and other spellings: insist on the exact round trip.
    exact = np.array_equal(np.datetime_as_string(parsed, unit="D"), np.array(dates))
    if not exact or parsed.min() < np.datetime64("0001-01-01"):
        return None
    return parsed.astype(np.int64)


def _fast(raw: list[Any]) -> Transactions | None:
    """Vectorised validation of a well-formed dataset; None means "look row by row"."""
    well_formed = all(type(t) is dict and "quantity" in t for t in raw)
    ids = [t.get("transactionId") for t in raw] if well_formed else []
    if not well_formed or not all(type(i) is str and 0 < len(i) <= MAX_ID for i in ids):
        return None
    days = _days([t.get("departureDate") for t in raw])
    quantity = _column([t["quantity"] for t in raw], optional=False)
    price = _column([t.get("unitPrice") for t in raw], optional=True)
    cost = _column([t.get("unitCost") for t in raw], optional=True)
    if days is None or quantity is None or price is None or cost is None:
        return None
    keys = np.array([transaction_key(i) for i in ids], dtype=np.int64)
    return Transactions(keys, days, quantity, price, cost)


def transactions(raw: Any) -> Transactions:
    """Validated columns of one dataset's ``transactions``; raises :class:`InvalidDatasetError`."""
    if not isinstance(raw, list):
        raise InvalidDatasetError(f"transactions: must be an array, got {_short(raw)}")
    if not raw:
        raise InvalidDatasetError("transactions: empty; a dataset needs at least one transaction")
    return _fast(raw) or _slow(raw)
