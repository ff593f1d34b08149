"""PHP and Laravel value semantics, as the Coolify server applies them to a request (API-RULES §2).

Everything here is a pure function of its arguments, so the request pipeline can call it outside the sandbox's
lock. The names follow the PHP/Laravel functions they reproduce, because the point of each one is to agree
with that function on every input a JSON client can send, not to be "reasonable".
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

# --- JSON in and out -------------------------------------------------------------------------------------------


class InvalidJson(ValueError):
    """The body is something PHP's json_decode() refuses (it would return null)."""


# What a PHP array is once JSON is decoded: an object or a list. The unions are named because `dict | list`
# written in an isinstance() call builds a new union object on every call, and these checks run many times per
# request.
PHP_ARRAY = dict | list
_BOOL_OR_ARRAY = bool | dict | list
_NUMBER = int | float
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PHP_JSON_DEPTH = 512
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _php_int(text: str) -> int | float:
    # PHP's json_decode turns integers that overflow int64 into floats.
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else float(text)


def _refuse_constant(name: str) -> object:
    raise InvalidJson(f"PHP's json_decode does not accept {name}")


_DECODER = json.JSONDecoder(parse_int=_php_int, parse_constant=_refuse_constant)


def php_json_decode(raw: bytes) -> object:
    """`json_decode($raw, true)`, raising InvalidJson where PHP returns null because of an error."""
    try:
        text = raw.decode("utf-8")
        value = _DECODER.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise InvalidJson(str(error)) from None
    # Only a \u escape can make a lone surrogate (strict UTF-8 cannot encode one), and nesting deeper than 512
    # takes more than 512 bytes: a short body without escapes, the usual one, needs no walk.
    if (len(raw) > _PHP_JSON_DEPTH or b"\\u" in raw) and not _php_accepts(value):
        raise InvalidJson("nesting too deep or an unpaired UTF-16 surrogate")
    return value


def _php_accepts(value: object) -> bool:
    """PHP refuses nesting deeper than 512 and lone surrogates ("\\ud800"), which Python's json lets through."""
    if isinstance(value, str):
        return not _lone_surrogate(value)
    pending = [(value, 1)]  # containers only: their strings are checked on the spot, other scalars pass
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            if not all(map(str.isascii, item)) and any(map(_lone_surrogate, item)):
                return False
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > _PHP_JSON_DEPTH:
            return False
        for child in children:
            if isinstance(child, str):
                if not child.isascii() and _LONE_SURROGATE.search(child):
                    return False
            elif isinstance(child, PHP_ARRAY):
                pending.append((child, depth + 1))
    return True


def _lone_surrogate(text: str) -> bool:
    return not text.isascii() and _LONE_SURROGATE.search(text) is not None


def json_body(value: object) -> bytes:
    """`response()->json($value)`: compact, non-ASCII as \\uXXXX and, with options 0, every "/" escaped as "\\/"."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/").encode()


def pretty_json_body(value: object) -> bytes:
    """The exception handler's JSON (429, 500): JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE."""
    return json.dumps(value, indent=4, ensure_ascii=False).encode()


def decoded_truthy(decoded: object) -> bool:
    """`if (json_decode($body))`: decoded without `assoc`, so every object (even {}) is a truthy stdClass."""
    return isinstance(decoded, dict) or php_truthy(decoded)


def request_input(decoded: object) -> dict[str, object]:
    """`(array) json_decode($body, true)`: what `$request->json()->all()` holds for any decoded body.

    A JSON list becomes the keys "0", "1", ...; a scalar becomes {"0": scalar}; null becomes an empty array.
    """
    if isinstance(decoded, dict):
        return decoded
    if isinstance(decoded, list):
        return {str(i): v for i, v in enumerate(decoded)}
    if decoded is None:
        return {}
    return {"0": decoded}


# --- PHP value semantics ---------------------------------------------------------------------------------------


def php_truthy(value: object) -> bool:
    """PHP's boolean conversion: "", "0", 0, 0.0, [], null and false are false."""
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, PHP_ARRAY):
        return len(value) > 0
    return bool(value)


def php_float_to_string(value: float) -> str:
    """`(string) $float` in PHP 8 (precision=14): 5.0 → "5", 1e15 → "1.0E+15", 1e-5 → "1.0E-5"."""
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    text = format(value, ".14G")
    if "E" not in text:
        return text
    mantissa, exponent = text.split("E")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}E{exponent[0]}{int(exponent[1:])}"


def php_to_string(value: object) -> str:
    """`(string) $value` for the scalars a JSON body can hold."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        return php_float_to_string(value)
    return str(value)


_FILTER_INT = re.compile(r"[+-]?(0|[1-9][0-9]*)")
_FILTER_TRIM = " \t\r\v\n"  # PHP_FILTER_TRIM_DEFAULT


def filter_validate_int(value: object) -> int | None:
    """`filter_var($value, FILTER_VALIDATE_INT)`, or None where PHP returns false.

    Scalars are converted to strings first, so JSON true passes (as "1"), 5.0 and 1e3 pass (as "5", "1000") but
    1e15 does not ("1.0E+15"); strings may carry a sign and surrounding blanks, never a leading zero or a point.
    """
    if type(value) is int:  # the usual case, and its string form always passes: skip the round trip
        return value if _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, PHP_ARRAY) or value is None:
        return None
    text = php_to_string(value).strip(_FILTER_TRIM)
    if not _FILTER_INT.fullmatch(text):
        return None
    number = int(text)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


_NUMERIC_STRING = re.compile(r"[ \t\n\r\v\f]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t\n\r\v\f]*")


def is_numeric(value: object) -> bool:
    """PHP 8's is_numeric(): ints and floats, and numeric strings (leading/trailing blanks allowed); never bools."""
    if isinstance(value, bool):
        return False
    if isinstance(value, _NUMBER):
        return True
    return isinstance(value, str) and _NUMERIC_STRING.fullmatch(value) is not None


def numeric_value(value: object) -> int | float:
    """The number a value that passed is_numeric() stands for."""
    if isinstance(value, _NUMBER):
        return value
    text = str(value).strip(" \t\n\r\v\f")
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else float(text)


def numbers_equal(a: object, b: object) -> bool:
    """Eloquent's last resort in originalIsEquivalent: both numeric and equal as decimals."""
    if not (is_numeric(a) and is_numeric(b)):
        return False
    try:
        return Decimal(php_to_string(a).strip()) == Decimal(php_to_string(b).strip())
    except InvalidOperation:
        return False


_FILTER_TRUE = {"1", "true", "on", "yes"}


def request_boolean(value: object) -> bool:
    """`$request->boolean($key)`: filter_var(FILTER_VALIDATE_BOOLEAN), so "1", "true", "on", "yes", 1, true."""
    if value is None or isinstance(value, PHP_ARRAY):
        return False
    return php_to_string(value).strip(_FILTER_TRIM).lower() in _FILTER_TRUE


def request_filled(value: object) -> bool:
    """`$request->filled($key)` for a value (None when the key is absent): blank strings and null are not filled."""
    if value is None:
        return False
    if isinstance(value, _BOOL_OR_ARRAY):
        return True
    return php_to_string(value).strip(" \t\n\r\0\x0b") != ""


# --- Global middleware: TrimStrings and ConvertEmptyStringsToNull ----------------------------------------------


def _str_trim_characters() -> str:
    # Str::trim uses ~^[\s\x{FEFF}\x{200B}\x{200E} \n\r\t\v\0]+~u; with /u PHP sets PCRE2_UCP, so \s is Unicode
    # white space: Z categories, \h and \v (which adds \x85 and U+180E).
    chars = {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in ("Zs", "Zl", "Zp")}
    chars |= set("\t\n\x0b\x0c\r\x85\u180e\ufeff\u200b\u200e\0")
    return "".join(sorted(chars))


_STR_TRIM = _str_trim_characters()


def clean_input(value: object) -> object:
    """TrimStrings then ConvertEmptyStringsToNull, recursively through arrays, as Laravel cleans every request."""
    if isinstance(value, str):
        value = value.strip(_STR_TRIM)
        return None if value == "" else value
    if isinstance(value, dict):
        return {k: clean_input(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_input(v) for v in value]
    return value


# --- Laravel's validator ---------------------------------------------------------------------------------------

MESSAGES = {
    # lang/en/validation.php of Laravel 12, for the rules the backup endpoints use.
    "boolean": "The :attribute field must be true or false.",
    "integer": "The :attribute field must be an integer.",
    "numeric": "The :attribute field must be a number.",
    "string": "The :attribute field must be a string.",
    "exists": "The selected :attribute is invalid.",
    "required": "This field is required.",  # customApiValidator's own message
    "min": {
        "array": "The :attribute field must have at least :min items.",
        "numeric": "The :attribute field must be at least :min.",
        "string": "The :attribute field must be at least :min characters.",
    },
    "max": {
        "array": "The :attribute field must not have more than :max items.",
        "numeric": "The :attribute field must not be greater than :max.",
        "string": "The :attribute field must not be greater than :max characters.",
    },
}
_NUMERIC_RULES = {"numeric", "integer", "decimal"}

ExistsCheck = Callable[[str, str, object], bool]


def parse_rules(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """ "integer|min:60|max:36000" → [("integer", ()), ("min", ("60",)), ("max", ("36000",))]."""
    rules = []
    for part in text.split("|"):
        name, _, params = part.partition(":")
        rules.append((name.lower(), tuple(params.split(",")) if params else ()))
    return rules


def displayable_attribute(attribute: str) -> str:
    """`str_replace('_', ' ', Str::snake($attribute))`: "s3_storage_uuid" → "s3 storage uuid"."""
    if not (attribute.isalpha() and attribute.islower()):
        words = re.sub(r"\s+", "", " ".join(w[:1].upper() + w[1:] for w in attribute.split(" ")))
        attribute = re.sub(r"(.)(?=[A-Z])", r"\1_", words).lower()
    return attribute.replace("_", " ")


def _size(value: object, numeric: bool) -> float:
    """Validator::getSize: the number for numeric values under a numeric rule, else count or string length."""
    if numeric and is_numeric(value):
        return numeric_value(value)
    if isinstance(value, PHP_ARRAY):
        return len(value)
    return len(php_to_string(value))


def _is_boolean(value: object) -> bool:
    """in_array($value, [true, false, 0, 1, '0', '1'], true)."""
    if isinstance(value, bool):
        return True
    return (type(value) is int and value in (0, 1)) or (type(value) is str and value in ("0", "1"))


def _blank(value: object) -> bool:
    return isinstance(value, str) and value.strip(" \t\n\r\0\x0b") == ""


class Validator:
    """`Validator::make($data, $rules)` with the rules parsed once: every failing rule of every attribute, in
    rule order, no bail, with Laravel's English messages."""

    def __init__(self, rules: dict[str, str], exists: ExistsCheck | None = None):
        self.exists = exists
        self._attributes = []
        for attribute, text in rules.items():
            parsed = parse_rules(text)
            names = {name for name, _ in parsed}
            numeric = bool(names & _NUMERIC_RULES)
            # The size rules' message type follows the attribute's rules, not its value: "abc" under
            # integer|min:60 reads "must be at least 60." although the size compared was the string length.
            size_kind = "numeric" if numeric else "array" if names & {"array", "list"} else "string"
            checks = tuple(
                (
                    self._message(rule, params, attribute, size_kind),
                    None if rule == "required" else self._predicate(rule, params, numeric),
                )
                for rule, params in parsed
                if rule not in ("nullable", "sometimes")
            )
            self._attributes.append((attribute, checks, "nullable" in names, "required" in names))

    @staticmethod
    def _message(rule: str, params: tuple[str, ...], attribute: str, size_kind: str) -> str:
        if rule not in MESSAGES:
            raise ValueError(f"the sandbox does not implement the Laravel rule {rule!r}")
        template = MESSAGES[rule]
        if isinstance(template, dict):
            template = template[size_kind].replace(f":{rule}", params[0])
        return template.replace(":attribute", displayable_attribute(attribute))

    def errors(self, data: dict[str, object]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for attribute, checks, nullable, has_implicit in self._attributes:
            present = attribute in data
            if not present and not has_implicit:
                continue
            value = data.get(attribute)
            # A blank string is validated by implicit rules only (presentOrRuleIsImplicit);
            # a null under `nullable` by none (isNotNullIfMarkedAsNullable).
            skip_plain = not present or _blank(value) or (nullable and value is None)
            for message, passes in checks:
                if passes is None:  # `required`, the one implicit rule
                    ok = present and value is not None and not _blank(value) and value not in ([], {})
                elif skip_plain:
                    continue
                else:
                    ok = passes(value)
                if not ok:
                    errors.setdefault(attribute, []).append(message)
                    if passes is None:
                        break  # shouldStopValidating: a failed implicit rule ends the attribute's validation
        return errors

    def _predicate(self, rule: str, params: tuple[str, ...], numeric: bool) -> Callable[[object], bool]:
        """The test of one plain rule, bound to its parameters once instead of dispatched on every value."""
        if rule == "boolean":
            return _is_boolean
        if rule == "integer":
            return lambda value: filter_validate_int(value) is not None
        if rule == "numeric":
            return is_numeric
        if rule == "string":
            return lambda value: isinstance(value, str)
        if rule == "min":
            least = float(params[0])
            return lambda value: _size(value, numeric) >= least
        if rule == "max":
            most = float(params[0])
            return lambda value: _size(value, numeric) <= most
        if rule == "exists":
            table, column = params[0], params[1]
            return lambda value: self.exists is not None and self.exists(table, column, value)
        raise ValueError(f"the sandbox does not implement the Laravel rule {rule!r}")


def validate(data: dict[str, object], rules: dict[str, str], exists: ExistsCheck | None = None) -> dict[str, list[str]]:
    """`Validator::make($data, $rules)->errors()` in one call."""
    return Validator(rules, exists).errors(data)


# --- Request helpers -------------------------------------------------------------------------------------------


def is_json_request(content_type: str | None) -> bool:
    """`$request->isJson()`: the Content-Type contains "/json" or "+json" (case-sensitive, like Str::contains)."""
    return content_type is not None and ("/json" in content_type or "+json" in content_type)


def acceptable_content_types(accept: str | None) -> list[str]:
    """Symfony's AcceptHeader: the types by descending quality, ties in header order."""
    if not accept:
        return []
    items = []
    for index, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            key, _, val = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(val)
                except ValueError:
                    quality = 0.0
        items.append((-quality, index, media))
    return [media for _, _, media in sorted(items)]


def expects_json(accept: str | None, requested_with: str | None) -> bool:
    """`$request->expectsJson()`: XHR accepting anything, or a first acceptable type that is JSON."""
    acceptable = acceptable_content_types(accept)
    accepts_any = not acceptable or acceptable[0] in ("*/*", "*")
    if requested_with == "XMLHttpRequest" and accepts_any:
        return True
    return bool(acceptable) and ("/json" in acceptable[0].lower() or "+json" in acceptable[0].lower())


def bearer_token(authorization: str | None) -> str | None:
    """`$request->bearerToken()`: what follows the last "Bearer " (any case), cut at a comma."""
    if not authorization:
        return None
    position = authorization.lower().rfind("bearer ")
    if position < 0:
        return None
    token = authorization[position + 7 :]
    return token.split(",", 1)[0] if "," in token else token
