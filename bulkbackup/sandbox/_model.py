"""How a backup configuration row takes an update: PostgreSQL's column types and Eloquent's dirty check.

`update($data)` fills the model and saves only if some attribute is "dirty", i.e. not equivalent to the value
read from the database (Model::originalIsEquivalent): identical values are clean; float-cast columns compare
as floats, boolean-cast columns (dump_all) as PHP booleans, and anything else is clean only when both sides are
numeric and equal as strings. So `"enabled": true` on an enabled config changes nothing, while `"enabled": 1`
or `"1"` rewrites the same value and moves `updated_at`, as on the real server.
"""

from __future__ import annotations

from bulkbackup.sandbox._laravel import filter_validate_int, is_numeric, numeric_value, php_to_string, php_truthy
from bulkbackup.sandbox._rules import COLUMN_OF, DECIMAL_17_7_LIMIT, INT4_MAX, TYPE_OF_COLUMN
from bulkbackup.sandbox._shapes import CAST_TO_BOOLEAN

_FLOAT_EPSILON = 2.220446049250313e-16
_TEXT, _BOOL, _INT, _NUMBER = "string", "boolean", "integer", "numeric"  # the columns' type rules


class ColumnOverflow(Exception):
    """PostgreSQL refused the value (int4 or decimal(17,7) out of range, text too long): the server answers 500."""


def stored_value(column: str, value: object) -> object:
    """What the column holds after PostgreSQL took the (validated) value Laravel bound."""
    kind = TYPE_OF_COLUMN.get(column)
    if value is None or kind is None:
        return value
    if kind == _TEXT:
        limit = COLUMN_OF[column].limit
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise ColumnOverflow(f"value too long for type character varying({limit})")
        return value
    if kind == _BOOL:
        return php_truthy(value)
    if kind == _INT:
        number = filter_validate_int(value)
        if number is None or abs(number) > INT4_MAX:
            raise ColumnOverflow(f"value out of range for type integer: {value!r}")
        return number
    number = round(float(numeric_value(value)), 7)
    if abs(number) >= DECIMAL_17_7_LIMIT:
        raise ColumnOverflow(f"numeric field overflow: {value!r}")
    return number


def is_equivalent(column: str, value: object, original: object) -> bool:
    """Eloquent's originalIsEquivalent for this column."""
    if type(value) is type(original) and value == original:
        return True
    if value is None:
        return False
    if TYPE_OF_COLUMN.get(column) == _NUMBER:
        return original is not None and abs(float(numeric_value(value)) - float(original)) < _FLOAT_EPSILON * 4
    if column in CAST_TO_BOOLEAN:
        return php_truthy(value) == php_truthy(original)
    return is_numeric(value) and is_numeric(original) and php_to_string(value) == php_to_string(original)


def prepare_update(columns: dict[str, object], values: dict[str, object]) -> dict[str, object]:
    """The stored values of the attributes `values` would make dirty; raises ColumnOverflow like the UPDATE."""
    changes = {}
    for column, value in values.items():
        if column not in columns:
            continue  # not a column (s3_storage_uuid when null): Eloquent silently discards it
        stored = stored_value(column, value)
        if not is_equivalent(column, value, columns[column]):
            changes[column] = stored
    return changes
