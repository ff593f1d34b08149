"""Reading what the user wants: changes files and frames, normalised; writing and reading spreadsheet-safe CSV.

`changes` (the entry point) · `files` (bytes to records) · `checks` (header, keys, duplicates) · `cells` (each
cell by its field's kind) · `problems` (a problem repeated down a column said once) · `safe_csv` (the formula
guard, `write_csv`, `read_csv`).
"""

from bulkbackup._input.changes import FRAME_SOURCE, read_changes, row_changes, row_place
from bulkbackup._input.problems import grouped, summary
from bulkbackup._input.safe_csv import read_csv, write_csv

__all__ = ["FRAME_SOURCE", "grouped", "read_changes", "read_csv", "row_changes", "row_place", "summary", "write_csv"]
