"""Tell a ClickHouse refusal of the data apart from an outage.

An insert can fail because ClickHouse is unreachable or overloaded (retry the same insert later: the
loader pauses) or because it refuses some row of the data (retrying the same rows would block the
partition for ever: find the row and dead-letter it). The codes below are the second kind; anything
else, including an error without a ClickHouse code (a lost connection), counts as an outage.
"""

from __future__ import annotations

import re

# Codes and names as ClickHouse's errorCodeToName() gives them.
DATA_ERROR_CODES = frozenset({
    6,    # CANNOT_PARSE_TEXT
    15,   # DUPLICATE_COLUMN
    16,   # NO_SUCH_COLUMN_IN_TABLE
    25,   # CANNOT_PARSE_ESCAPE_SEQUENCE
    26,   # CANNOT_PARSE_QUOTED_STRING
    27,   # CANNOT_PARSE_INPUT_ASSERTION_FAILED
    38,   # CANNOT_PARSE_DATE
    41,   # CANNOT_PARSE_DATETIME
    53,   # TYPE_MISMATCH
    69,   # ARGUMENT_OUT_OF_BOUND
    70,   # CANNOT_CONVERT_TYPE
    72,   # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA (e.g. a duplicated or unknown JSON key)
    131,  # TOO_LARGE_STRING_SIZE
    190,  # SIZES_OF_ARRAYS_DONT_MATCH
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    349,  # CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    376,  # CANNOT_PARSE_UUID
    395,  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO (throwIf in a view)
    407,  # DECIMAL_OVERFLOW
    467,  # CANNOT_PARSE_BOOL
    469,  # VIOLATED_CONSTRAINT
    691,  # UNKNOWN_ELEMENT_OF_ENUM
})

_CODE = re.compile(r"Code: (\d+)\. DB::Exception")
_AT_ROW = re.compile(r"\bat row (\d+)")  # "(at row 7)", "is violated at row 7"


def error_code(exc: BaseException) -> int | None:
    """The ClickHouse error code in ``exc``'s message (HTTP client or embedded engine), if any."""
    match = _CODE.search(str(exc))
    return int(match[1]) if match else None


def is_data_error(exc: BaseException) -> bool:
    return error_code(exc) in DATA_ERROR_CODES


def refused_row(exc: BaseException) -> int | None:
    """The 1-based row ClickHouse names in a parse error or a constraint violation. Only a hint: with parallel
    parsing it may count from the start of a chunk, so the loader checks it by inserting."""
    match = _AT_ROW.search(str(exc))
    return int(match[1]) if match else None


def refusal_reason(exc: BaseException) -> str:
    """ClickHouse's message in one line, for the dead-letter ``reason`` header."""
    text = " ".join(str(exc).split())
    return f"refused by ClickHouse: {text[:600]}"
