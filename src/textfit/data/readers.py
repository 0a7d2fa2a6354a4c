"""Read a data file into a DataFrame, the way people have them: Excel workbooks, CSV with `,` `;`
tab or `|` between fields, UTF-8 with or without a BOM, UTF-16, or Windows' cp1252.

Every way a file can be unreadable ends in a `DataError` that names the file and, where there is
one, the line; nothing else escapes. Lines are counted as an editor counts them (the header is
line 1); rows, elsewhere, from the first data row."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DataError

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
}
SEPARATORS = (",", ";", "\t", "|")
"""Tried in this order; the first that splits the header and keeps most lines the same width wins."""
SNIFF_CHARS = 64 * 1024
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
"""Characters no text file has (tab, newline, vertical tab, form feed and carriage return are fine)."""
FALLBACK = "cp1252"
"""Windows' Western European code page, the encoding of CSVs saved by older Excel versions. Not
Latin-1: Latin-1 decodes any byte at all, so it would read binary junk as text without a word."""


@dataclass
class Table:
    frame: pd.DataFrame
    fingerprint: str
    """SHA-256 of the file's bytes."""
    encoding: str | None = None
    """What the text was decoded as (utf-8, utf-8-sig, utf-16, utf-32, cp1252); None for Excel and Parquet."""
    note: str | None = None
    """Something the user should know about how the file was read (a fallback encoding)."""
    class_names: list[str] | None = None
    """A hub data set's ClassLabel names."""


def line_of(raw: bytes | str, offset: int) -> int:
    return raw[:offset].count(b"\n" if isinstance(raw, bytes) else "\n") + 1


SIGNATURES = {
    b"PK\x03\x04": "a zip archive (an Excel .xlsx workbook is one)",
    b"PAR1": "a Parquet file",
    b"\xd0\xcf\x11\xe0": "an old Office file (Excel 97-2003 .xls?)",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
}


def signature(head: bytes) -> str | None:
    """What a file's first bytes say it is, for a file whose name says otherwise."""
    return next((what for magic, what in SIGNATURES.items() if head.startswith(magic)), None)


def looks_like(head: bytes) -> str | None:
    """`signature`, or "a text file" for a head of printable UTF-8."""
    if found := signature(head):
        return found
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None  # not text, or cut mid-character: say nothing rather than guess
    return "a text file (CSV?)" if text and not CONTROL.search(text) else None


def decode(raw: bytes, path: Path) -> tuple[str, str, str | None]:
    """The file's text, the encoding used, and a note when that was not UTF-8.

    A BOM decides; otherwise UTF-8, else cp1252 (with a note). NUL bytes, bytes that neither
    decodes, and control characters are refused, naming the line."""
    for bom, encoding in BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(encoding), encoding, None
            except UnicodeDecodeError as exc:
                raise DataError(
                    f"{path}: starts with a {encoding.upper()} byte-order mark but byte {exc.start} is "
                    f"not valid {encoding.upper()}. Save the file as UTF-8 and try again."
                ) from None
    if (nul := raw.find(b"\0")) >= 0:
        what = signature(raw[:8])
        raise DataError(
            f"{path}: line {line_of(raw, nul)} contains a NUL byte: "
            + (
                f"this is {what}, not a text file"
                if what
                else "this is not a text file (or it is UTF-16 without a byte-order mark)"
            )
            + ". Save the data as CSV (UTF-8) or Excel and try again."
        )
    try:
        text, encoding, note = raw.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError as exc:
        line, byte = line_of(raw, exc.start), raw[exc.start]
        try:
            text = raw.decode(FALLBACK)
        except UnicodeDecodeError:
            raise DataError(
                f"{path}: line {line} has bytes that are not valid UTF-8 (byte {byte:#04x} at offset {exc.start}), "
                f"nor {FALLBACK}. Save the file as UTF-8 and try again."
            ) from None
        encoding = FALLBACK
        note = (
            f"{path} is not UTF-8 (line {line} has byte {byte:#04x}); read it as {FALLBACK} (Windows, Western "
            "European). If accents or symbols look wrong, save the file as UTF-8."
        )
    if bad := CONTROL.search(text):
        raise DataError(
            f"{path}: line {line_of(text, bad.start())} has a control character ({ord(bad.group()):#04x}): "
            "this does not look like a text file."
        )
    return text, encoding, note


def guess_separator(text: str, default: str = ",") -> str:
    """The separator that splits the header into columns and keeps the most lines that wide."""
    sample = text[:SNIFF_CHARS]
    best, best_share = default, 0.0
    for separator in SEPARATORS:
        widths = [len(row) for row in csv_rows(sample, separator) if row]
        if len(sample) < len(text):
            widths = widths[:-1]  # the sample may end inside the last row
        if not widths or widths[0] < 2:
            continue
        share = sum(width == widths[0] for width in widths) / len(widths)
        if share > best_share:
            best, best_share = separator, share
    return best


def csv_reader(text: str, separator: str):
    """The csv module's reader (quotes respected, as pandas does) for a text of any cell size."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # a long text is still one cell
    return csv.reader(io.StringIO(text, newline=""), delimiter=separator)


def csv_rows(text: str, separator: str):
    """Rows as `csv_reader` splits them; stops quietly where the text ends mid-row."""
    reader = csv_reader(text, separator)
    try:
        yield from reader
    except csv.Error:
        return


def check_widths(text: str, separator: str, path: Path) -> list[str]:
    """The header; a line with more fields than it is refused (pandas would shift or drop cells)."""
    reader = csv_reader(text, separator)
    header = None
    try:
        for row in reader:
            if not row:
                continue
            if header is None:
                header = row
            elif len(row) > len(header):
                shown = "tab" if separator == "\t" else f"'{separator}'"
                raise DataError(
                    f"{path}: line {reader.line_num} has {len(row)} fields but the header has {len(header)}. "
                    f"A text that contains {shown} must be in double quotes."
                )
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num} cannot be parsed as CSV: {exc}") from None
    return header or []


def check_header(names: list, path: Path) -> None:
    """A repeated column name is refused: pandas would rename one ('text.1') and a column be picked silently."""
    named = [str(n) for n in names if not _blank(n)]
    repeated = sorted({n for n in named if named.count(n) > 1})
    if repeated:
        raise DataError(
            f"{path}: column name(s) {', '.join(repr(n) for n in repeated)} appear more than once; "
            "rename them so each column has its own name."
        )


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def read_csv(text: str, separator: str | None, path: Path) -> pd.DataFrame:
    if not text.strip():
        raise DataError(f"{path}: the file has no data (only blank space)")
    separator = separator or guess_separator(text)
    check_header(check_widths(text, separator, path), path)
    try:
        return pd.read_csv(io.StringIO(text), sep=separator, keep_default_na=False, na_values=[""], index_col=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        message = str(exc).strip()
        if opened := re.search(r"EOF inside string starting at row (\d+)", message):  # row 0 = the header
            raise DataError(
                f'{path}: a double quote (") opened near line {int(opened.group(1)) + 1} is never '
                'closed. Close it, or double a quote that is part of a text ("").'
            ) from None
        raise DataError(f"{path}: cannot be parsed as CSV: {message}") from None


def read_json_records(text: str, path: Path, lines: bool) -> pd.DataFrame:
    """A JSON list of objects, or JSON Lines (one object a line); each object is a row."""
    if not lines:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            if not (exc.msg == "Extra data" and text.lstrip().startswith("{")):  # else: JSON Lines named .json
                raise DataError(
                    f"{path}: cannot be parsed as JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
                ) from None
        else:
            if not isinstance(value, list):
                found = (
                    f"an object with keys {', '.join(map(repr, list(value)[:5]))}"
                    if isinstance(value, dict)
                    else f"a single {type(value).__name__}"
                )
                raise DataError(
                    f'{path}: a JSON data file must be a list of records ([{{"text": ..., "label": ...}}, ...]); '
                    f"this one holds {found}."
                )
            return _records(value, path, "item")
    records, numbers = [], []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): JSON strings may hold U+2028
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number} cannot be parsed as JSON: {exc.msg} (column {exc.colno})") from None
        numbers.append(number)
    return _records(records, path, "line", numbers)


def _records(values: list, path: Path, unit: str, numbers: list[int] | None = None) -> pd.DataFrame:
    for i, value in enumerate(values):
        if not isinstance(value, dict):
            where = numbers[i] if numbers else i + 1
            raise DataError(
                f"{path}: {unit} {where} is a {type(value).__name__}, not a record "
                f'({{"text": ..., "label": ...}}); each {unit} must be one object.'
            )
    return pd.DataFrame.from_records(values) if values else pd.DataFrame()


def choose_sheet(names: list[str], sheet: str | int | None, path: Path) -> str:
    """The sheet to read: the first, or `sheet` by name or by position counted from 1."""
    if sheet is None or sheet == "":
        return names[0]
    if str(sheet) in names:
        return str(sheet)
    if str(sheet).isdigit() and 1 <= int(sheet) <= len(names):
        return names[int(sheet) - 1]
    raise DataError(
        f"{path}: no sheet {str(sheet)!r}. The sheets are: {', '.join(map(repr, names))} "
        "(give a name, or a position counted from 1)"
    )


def why_not_a_workbook(exc: Exception) -> str:
    """Why openpyxl could not open a file, in words rather than its exception's class name
    ('BadZipFile: File is not a zip file')."""
    import zipfile

    if isinstance(exc, zipfile.BadZipFile):
        return "an .xlsx file is a zip archive, and this one is not: cut short, or another format renamed"
    if isinstance(exc, (KeyError, ValueError)) or "xml" in type(exc).__module__.lower():
        return "its parts are not those of an Excel workbook"
    return f"its contents could not be read ({exc})" if str(exc) else "its contents could not be read"


def read_excel(path: Path, sheet: str | int | None) -> pd.DataFrame:
    """One sheet of a workbook: the first, or `sheet` by name or by position counted from 1."""
    try:
        workbook = pd.ExcelFile(path, engine="openpyxl")
    except ImportError:
        raise DataError("reading Excel files needs openpyxl: pip install openpyxl") from None
    except Exception as exc:  # zipfile, openpyxl and XML errors, all meaning "not a workbook"
        what = looks_like(path.read_bytes()[:512])
        raise DataError(
            f"{path}: is not a readable Excel workbook ({why_not_a_workbook(exc)})"
            + (f"; it looks like {what}" if what and "zip" not in what else "")
            + ". Open it in Excel and save it again as .xlsx, or as CSV."
        ) from None
    with workbook:
        chosen = choose_sheet(workbook.sheet_names, sheet, path)
        try:
            header = workbook.parse(chosen, header=None, nrows=1)
            check_header(header.iloc[0].tolist() if len(header) else [], path)
            return workbook.parse(chosen)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"{path}: sheet {chosen!r} cannot be read: {type(exc).__name__}: {exc}") from None


def read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except ImportError as exc:
        raise DataError(f"reading Parquet files needs pyarrow: {exc}") from None
    except Exception as exc:  # pyarrow raises its own types
        what = looks_like(path.read_bytes()[:512])
        hint = (
            f"It looks like {what}."
            if what and "Parquet" not in what
            else "A file copied or downloaded only in part reads like this."
        )
        raise DataError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: {exc}). {hint}") from None


def read_file(path: str | Path, sheet: str | int | None = None) -> Table:
    """Read a local data file by its extension; refuse anything that does not give a table with rows."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a data file (CSV, TSV, Excel, JSON Lines, JSON or Parquet)")
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise DataError(
            f"{path}: the old Excel format (.xls, Excel 97-2003) is not read. Open it in Excel and "
            "save it as an Excel Workbook (.xlsx) or as CSV UTF-8."
        )
    kind = FORMATS.get(suffix)
    if kind is None:
        raise DataError(
            f"{path}: unknown format '{path.suffix or '(no extension)'}'. Supported: {', '.join(sorted(FORMATS))}"
        )
    raw = path.read_bytes()
    if not raw:
        raise DataError(f"{path}: the file is empty")
    encoding = note = None
    if kind == "excel":
        frame = read_excel(path, sheet)
    elif kind == "parquet":
        frame = read_parquet(path)
    else:
        text, encoding, note = decode(raw, path)
        if kind in ("json", "jsonl"):
            frame = read_json_records(text, path, lines=kind == "jsonl")
        else:
            frame = read_csv(text, "\t" if kind == "tsv" else None, path)
    frame = _drop_empty_unnamed(frame)
    if frame.empty:
        raise DataError(f"{path}: has a header but no data rows" if len(frame.columns) else f"{path}: has no data")
    return Table(frame, hashlib.sha256(raw).hexdigest(), encoding, note)


def _drop_empty_unnamed(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns without a name and without a value: trailing separators, Excel's formatted blank cells."""
    empty = [c for c in frame.columns if str(c).startswith("Unnamed: ") and frame[c].isna().all()]
    return frame.drop(columns=empty)
