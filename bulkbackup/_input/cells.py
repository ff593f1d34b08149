"""Normalising cells: every cell of a key or setting column, read by its field's kind, into a value or an error.

Each distinct cell of a column is read and checked once and its result shared (bulk files repeat the same few
cell texts), so the cost follows the distinct values, not the row count. A row's problems are full sentences
naming the place, the column and the value (cut when very long); a problem that several rows of one column share
is a `CellProblem` that knows its column and kind, so `problems.grouped` can say it once for the column.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from bulkbackup._core.errors import printable
from bulkbackup._core.fields import (
    UUID_LIMIT,
    CellError,
    Field,
    is_missing,
    read_text,
    uuid_problem,
)
from bulkbackup._input.safe_csv import unescape

SHOWN_CHARACTERS = 80  # a value longer than this is shown cut, with its length
_MISSING_KEY_HINT = {"database_uuid": "the database's uuid", "backup_uuid": "the backup configuration's uuid"}

Untouched = Callable[[str], Collection[int]]
"""column → the row positions whose cell is still what was exported: such a cell is read as empty ("leave
unchanged") and never makes its row invalid. The seam for an export's memory; `read_changes` passes none. Asked
once per column, not per cell: an export of 10,000 configurations has 130,000 cells."""


def shown_text(text: str) -> str:
    """A header or cell text as it can stand in a one-line message: escaped, and cut when it is very long."""
    if len(text) > SHOWN_CHARACTERS:
        text = f"{text[:SHOWN_CHARACTERS]}… ({len(text):,} characters)"
    return printable(text)


def shown(value: object) -> str:
    """repr() of a value for a message, cut when it is very long (a 100,000-character cell is still one line)."""
    try:
        text = repr(value)
    except Exception:  # an odd object's repr must not lose the row: name its type instead
        return f"<{type(value).__name__}>"
    if len(text) > SHOWN_CHARACTERS + 2:
        return f"{text[: SHOWN_CHARACTERS + 1]}…' ({len(text) - 2:,} characters)"
    return text


class RowProblem(str):
    """A row error only the file could show (extra cells, an unclosed quote): kept when the frame is read again."""


class CellProblem(str):
    """A row error of one cell, with what rows of the same column can share: its `kind` and the `fix`."""

    column: str
    kind: str
    fix: str
    ref: str  # the row's short place ("line 3", "row 7")
    source: str  # the file's name, or "" for a DataFrame
    value: str  # the cell as a message shows it, or ""

    def __new__(
        cls,
        message: str,
        *,
        column: str = "",
        kind: str = "",
        fix: str = "",
        ref: str = "",
        source: str = "",
        value: str = "",
    ) -> CellProblem:
        # Defaults, so that pickle and copy.deepcopy (which call __new__ with the text alone) can rebuild one.
        made = super().__new__(cls, message)
        made.column, made.kind, made.fix, made.ref, made.source, made.value = column, kind, fix, ref, source, value
        return made


def _mentions(message: str, value: object) -> bool:
    """Whether a problem's text already shows the value (as repr, or as Field.problems formats numbers)."""
    texts = {repr(value)}
    if isinstance(value, str):
        texts.add(repr(value.strip()))
    elif isinstance(value, float):
        texts.add(f"(got {value:g})")
    return any(text in message for text in texts)


def cell_message(where: str, column: str, value: object, problem: str) -> str:
    if problem.startswith(f"{column}: "):
        problem = problem[len(column) + 2 :]
    text = shown(value)
    if _mentions(problem, value):
        if len(text) < len(repr(value)):
            problem = problem.replace(repr(value), text)
            if isinstance(value, str):
                problem = problem.replace(repr(value.strip()), text)
        return f"{where}: column '{column}': {problem}"
    return f"{where}: column '{column}', value {text}: {problem}"


def _kind_of(problem: str) -> str:
    """What rows of one column share when a bound check fails: the rule without the value ("must be at least 60")."""
    rule, _, _ = problem.partition(" (got ")
    return rule.split(": ", 1)[-1] if ": " in rule else rule.partition(" ")[2]


class Reader:
    """Turns the cells of one input, column by column, into the normalised frame's columns and row errors."""

    def __init__(
        self,
        n_rows: int,
        place: Callable[[int], str],
        *,
        ref: Callable[[int], str] | None = None,
        unescape: bool = True,
        untouched: Untouched | None = None,
    ):
        self.place = place  # row position → "file:line" or "<DataFrame> row label"
        self.ref = ref or place  # row position → "line 3" or "row label", as other messages name it
        self.unescape = unescape  # False for a frame read before: its apostrophes were taken off already
        self.untouched = untouched
        self.errors: list[list[str]] = [[] for _ in range(n_rows)]

    def problem(self, i: int, column: str, value: object, text: str, *, kind: str = "", fix: str = "") -> None:
        """Add one cell's problem to row `i`; with a `kind`, rows of the column sharing it can be told together."""
        where = self.place(i)
        message = cell_message(where, column, value, text)
        if kind:
            ref = self.ref(i)
            source = where.rsplit(":", 1)[0] if ref.startswith("line ") else ""
            message = CellProblem(
                message, column=column, kind=kind, fix=fix, ref=ref, source=source, value=shown(value)
            )
        self.errors[i].append(message)

    def key(self, name: str, cells: list[object], *, skip: Collection[int] = ()) -> list[str]:
        """The key column's texts ("" for an empty or unusable one); `skip`: positions already an error."""

        # Nearly every key is a plain uuid (Coolify's are letters and digits): those need no reading at all.
        def plain(cell: object) -> bool:
            return type(cell) is str and len(cell) <= UUID_LIMIT and uuid_problem(cell) is None

        # `type(c) is str and c`, never `all(cells)`: the truth of pd.NA (a nullable column's empty cell) raises.
        if all(type(c) is str and c for c in cells) and not skip:
            joined = "".join(cells)  # type: ignore[arg-type]
            if joined.isascii() and joined.isalnum() and max(map(len, cells), default=0) <= UUID_LIMIT:  # type: ignore[arg-type]
                return list(cells)  # type: ignore[arg-type]  # every key letters and digits only: checked in one go
        values: list[str | None] = [c if plain(c) else None for c in cells]
        for i, value in enumerate(values):
            if value is not None:
                continue
            if i in skip:
                values[i] = ""
                continue
            cell = self._unescaped(cells[i])
            if is_missing(cell):
                values[i] = ""
                self.errors[i].append(
                    CellProblem(
                        f"{self.place(i)}: column '{name}' is empty: every row needs {_MISSING_KEY_HINT[name]}",
                        column=name,
                        kind="are empty",
                        fix=f"every row needs {_MISSING_KEY_HINT[name]}",
                        ref=self.ref(i),
                        source=self.place(i).rsplit(":", 1)[0] if self.ref(i).startswith("line ") else "",
                    )
                )
                continue
            try:
                text = read_text(cell)
            except CellError as error:
                values[i] = ""
                self.problem(i, name, cell, str(error), kind=error.kind, fix=error.fix)
                continue
            values[i] = text
            problem = uuid_problem(text)
            if problem:
                self.problem(i, name, text, problem)
        return values  # type: ignore[return-value]

    def instance(self, name: str, cells: list[object], *, skip: Collection[int] = ()) -> list[str]:
        """The instance column's names ("" for an empty cell: which client serves it is the plan's question, with
        the clients in hand); a name that is no line of printable text is an error of its row."""
        values: list[str] = []
        for i, cell in enumerate(cells):
            cell = "" if i in skip else self._unescaped(cell)
            if type(cell) is str and cell.isprintable() and cell == cell.strip():
                values.append(cell)  # the usual case: a plain name
                continue
            if is_missing(cell):
                values.append("")
                continue
            try:
                text = read_text(cell)
            except CellError as error:
                values.append("")
                self.problem(i, name, cell, str(error), kind=error.kind, fix=error.fix)
                continue
            if not text.isprintable():
                values.append("")
                self.problem(i, name, cell, "an instance name is one line of printable text")
                continue
            values.append(text)
        return values

    def field(self, field: Field, cells: list[object], *, skip: Collection[int] = ()) -> list[object]:
        """The column's values as `Field.read` gives them (None: empty); `skip`: positions already an error,
        whose cell is kept as it is without being read."""
        raw = cells
        kept = self.untouched(field.name) if self.untouched is not None else ()
        if skip or kept:
            cells = list(cells)
            for i in (*skip, *kept):
                cells[i] = None
        values = self._field(field, cells)
        for i in skip:
            values[i] = raw[i]
        return values

    def _field(self, field: Field, cells: list[object]) -> list[object]:
        try:
            # A cell's type is part of its identity: True, 1 and 1.0 are equal keys of a dict but not one cell. So
            # the type joins the key, unless the column holds one type (and None, equal to nothing else).
            types = set(map(type, cells))
            types.discard(type(None))
            plain = len(types) <= 1
            keys: list[object] = cells if plain else list(zip(map(type, cells), cells, strict=True))
            read = {key: self._read_cell(field, key if plain else key[1]) for key in dict.fromkeys(keys)}
        except TypeError:  # an unhashable cell (a list): read every cell on its own
            return self._field_one_by_one(field, cells)
        value_of = {key: value for key, (value, _) in read.items()}
        values = list(map(value_of.__getitem__, keys))
        failing = {key for key, (_, problems) in read.items() if problems}
        if failing:
            for i, key in enumerate(keys):
                if key in failing:
                    for value, problem, kind, fix in read[key][1]:
                        self.problem(i, field.name, value, problem, kind=kind, fix=fix)
        return values

    def _field_one_by_one(self, field: Field, cells: list[object]) -> list[object]:
        values = []
        for i, cell in enumerate(cells):
            value, problems = self._read_cell(field, cell)
            values.append(value)
            for shown_value, problem, kind, fix in problems:
                self.problem(i, field.name, shown_value, problem, kind=kind, fix=fix)
        return values

    def _unescaped(self, cell: object) -> object:
        return unescape(cell) if self.unescape else cell

    def _read_cell(self, field: Field, cell: object) -> tuple[object, list[tuple[object, str, str, str]]]:
        """(value to keep, [(value shown, problem, kind, fix)]) of one cell; (None, []) for an empty one."""
        try:
            cell = self._unescaped(cell)
            if is_missing(cell):
                return None, []
            value = field.read(cell)
            return value, [(value, problem, _kind_of(problem), "") for problem in field.problems(value)]
        except CellError as error:
            # Keep what was given: the row is invalid, and reading this frame again reports the same error.
            return cell, [(cell, str(error), error.kind, error.fix)]
        except Exception as error:  # noqa: BLE001
            # A reader that trips over an absurd cell (an odd numeric type, a failing __str__) must not lose the
            # whole file: it is this row's error.
            return cell, [(cell, f"{shown(cell)} cannot be read as {field.kind.value}: {type(error).__name__}", "", "")]
