"""Read a data file in batches, and write rows out as they come: the two ends of `textfit predict
--input FILE --output FILE` (batch.py), so memory does not grow with the file.

Inputs: CSV/TSV (pyarrow's streaming reader; encoding and separator found from the file's head as
readers.py finds them; every column read as text, so ids keep their leading zeros), Parquet (row
batches), JSON Lines (lines), .txt (one text a line; blank lines are not texts), Excel .xlsx
(openpyxl's read-only rows), a .json list (read whole), or a folder of such files in name order.

Outputs: CSV, TSV, JSON Lines (appended to `OUT.partial`; the position after a batch is a byte
offset) and Parquet (one part file a batch in the folder `OUT.partial`, the position a count of
parts; merged by streaming at the end). A resumed job cuts the partial output back to the position
recorded after its last complete batch. Excel (.xlsx: openpyxl's write-only rows, one sheet
"predictions") is zipped in one piece at the end, so an Excel output cannot be resumed; its cells
keep numbers and dates as numbers and dates (read from a CSV as text, too), and the confidence
columns it is given show as percentages."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .readers import (
    BOMS,
    FORMATS,
    check_header,
    choose_sheet,
    csv_rows,
    decode,
    guess_separator,
    read_file,
    why_not_a_workbook,
)

log = logging.getLogger("textfit")

HEAD_BYTES = 64 * 1024
OUTPUTS = (".csv", ".tsv", ".jsonl", ".parquet", ".xlsx")
RESUMABLE_OUTPUTS = (".csv", ".tsv", ".jsonl", ".parquet")
EXCEL_MAX_ROWS = 1_048_576
"""Rows in one Excel sheet, the header included."""
SCORE_DIGITS = 6


# --- reading ----------------------------------------------------------------------------------
class Source:
    """The rows of one file or a folder of files, as DataFrames, with what a progress bar needs."""

    def __init__(self, path: str | Path, sheet: str | int | None = None):
        self.path = Path(path)
        if self.path.is_dir():
            self.files = sorted(
                p
                for p in self.path.iterdir()
                if p.is_file()
                and not p.name.startswith((".", "_"))
                and (p.suffix.lower() in FORMATS or p.suffix.lower() == ".txt")
            )
            if not self.files:
                raise DataError(
                    f"{self.path}: the folder holds no data files (CSV, TSV, JSON Lines, Parquet, .txt, .xlsx)"
                )
        elif self.path.is_file():
            self.files = [self.path]
        else:
            raise DataError(f"input file not found: {self.path}")
        for file in self.files:
            kind(file)  # an unknown format is refused before any work
        self.sheet = sheet
        self.total_bytes = sum(f.stat().st_size for f in self.files)
        self.bytes_before = 0  # sizes of the files already read
        self._handle = None  # the open binary file, for the bytes read so far
        parquet = [f for f in self.files if kind(f) == "parquet"]
        self.total_rows = sum(_parquet_rows(f) for f in parquet) if len(parquet) == len(self.files) else None

    @property
    def bytes_read(self) -> int:
        try:
            return self.bytes_before + (self._handle.tell() if self._handle else 0)
        except (ValueError, OSError):  # closed
            return self.bytes_before

    def fingerprint(self) -> list:
        """Name, size, modification time and a hash of the ends of each file: a changed input is noticed on
        resume without reading gigabytes."""
        return [[f.name, f.stat().st_size, f.stat().st_mtime_ns, _ends_sha256(f)] for f in self.files]

    def frames(self) -> Iterator[pd.DataFrame]:
        for file in self.files:
            yield from FILE_READERS[kind(file)](self, file)
            self._handle = None
            self.bytes_before += file.stat().st_size


def kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return "txt"
    if suffix not in FORMATS:
        raise DataError(
            f"{path}: unknown format '{path.suffix or '(no extension)'}'. "
            f"Supported: {', '.join(sorted([*FORMATS, '.txt']))}"
        )
    return FORMATS[suffix]


def batches(frames: Iterator[pd.DataFrame], rows: int, skip: int = 0) -> Iterator[pd.DataFrame]:
    """Frames of exactly `rows` rows (the last may be shorter), after dropping the first `skip`."""
    pending, count = [], 0
    for frame in frames:
        if skip:
            dropped = min(skip, len(frame))
            frame, skip = frame.iloc[dropped:], skip - dropped
        while len(frame):
            take = min(rows - count, len(frame))
            pending.append(frame.iloc[:take])
            frame, count = frame.iloc[take:], count + take
            if count == rows:
                yield pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0].reset_index(drop=True)
                pending, count = [], 0
    if pending:
        yield pd.concat(pending, ignore_index=True)


def sniff(path: Path) -> tuple[str, str]:
    """The head of a text file, decoded, and the encoding: a BOM decides, else UTF-8, else cp1252
    (readers.decode, on the head only; a later bad byte is named when the reader meets it)."""
    with path.open("rb") as f:
        raw = f.read(HEAD_BYTES)
    if not raw:
        raise DataError(f"{path}: the file is empty")
    whole = len(raw) < HEAD_BYTES
    for bom, encoding in BOMS:
        if raw.startswith(bom):
            try:
                return codecs.getincrementaldecoder(encoding)().decode(raw, final=whole), encoding
            except UnicodeDecodeError:
                break  # decode() words the error
    if not whole:
        raw = raw[: raw.rfind(b"\n") + 1] or raw  # not mid-character
    text, encoding, note = decode(raw, path)
    if note:
        log.warning(note)
    return text, encoding


def first_bad_line(path: Path, encoding: str) -> str:
    """Where a file stops being valid in `encoding`: "line N has bytes that are not valid ..."."""
    decoder, line, offset = codecs.getincrementaldecoder(encoding)(), 1, 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            try:
                line += decoder.decode(chunk).count("\n")
            except UnicodeDecodeError as exc:
                line += chunk[: exc.start].decode(encoding, errors="replace").count("\n")
                return (
                    f"line {line} has bytes that are not valid {encoding.upper()} (byte {chunk[exc.start]:#04x} at "
                    f"offset {offset + exc.start})"
                )
            offset += len(chunk)
    return f"it has bytes that are not valid {encoding.upper()}"


def read_csv_file(source: Source, path: Path) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    from pyarrow import csv

    head, encoding = sniff(path)
    separator = "\t" if kind(path) == "tsv" else guess_separator(head)
    header = next((row for row in csv_rows(head, separator) if row), [])
    check_header(header, path)
    with path.open("rb") as handle:
        source._handle = handle
        try:
            reader = csv.open_csv(
                handle,
                read_options=csv.ReadOptions(
                    encoding="utf8" if encoding == "utf-8" else encoding, use_threads=False
                ),  # row numbers in errors
                parse_options=csv.ParseOptions(delimiter=separator, newlines_in_values=True),
                convert_options=csv.ConvertOptions(column_types={name: pa.string() for name in header}),
            )
            for batch in reader:
                yield batch.to_pandas()
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise csv_error(path, exc, encoding, separator) from None


def csv_error(path: Path, exc: Exception, encoding: str, separator: str) -> DataError:
    message = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "invalid UTF8" in message:
        return DataError(f"{path}: {first_bad_line(path, encoding)}. Save the file as UTF-8 and try again.")
    if width := re.search(r"Row #(\d+): Expected (\d+) columns, got (\d+)", message):
        line, expected, got = width.groups()
        shown = "tab" if separator == "\t" else f"'{separator}'"
        return DataError(
            f"{path}: line {line} has {got} fields but the header has {expected}. "
            f"A text that contains {shown} must be in double quotes."
        )
    return DataError(f"{path}: cannot be parsed as CSV: {message}")


def read_lines_file(source: Source, path: Path) -> Iterator[pd.DataFrame]:
    """JSON Lines (one object a line) or .txt (one text a line), a few thousand lines at a time."""
    _, encoding = sniff(path)
    as_json, rows = kind(path) == "jsonl", []

    def frame():
        return pd.DataFrame.from_records(rows) if as_json else pd.DataFrame({"text": rows})

    with path.open("rb") as handle:
        source._handle = handle
        try:
            # newline="": lines end at \n or \r only, never at U+2028 (which a JSON string may hold)
            for number, line in enumerate(io.TextIOWrapper(handle, encoding=encoding, newline=""), start=1):
                if line.strip():
                    rows.append(_record(line, path, number) if as_json else line.strip())
                if len(rows) == 4096:
                    yield frame()
                    rows = []
        except UnicodeDecodeError:
            raise DataError(
                f"{path}: {first_bad_line(path, encoding)}. Save the file as UTF-8 and try again."
            ) from None
    if rows:
        yield frame()


def _record(line: str, path: Path, number: int) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: line {number} cannot be parsed as JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(record, dict):
        raise DataError(
            f'{path}: line {number} is a {type(record).__name__}, not a record ({{"text": ...}}); '
            "each line must be one object."
        )
    return record


def read_parquet_file(source: Source, path: Path) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
            yield batch.to_pandas()
    except Exception as exc:  # pyarrow raises its own types
        raise DataError(
            f"{path}: cannot be read as Parquet ({type(exc).__name__}: {exc}). "
            "A file copied or downloaded only in part reads like this."
        ) from None


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:
        raise DataError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: {exc})") from None


def read_excel_file(source: Source, path: Path) -> Iterator[pd.DataFrame]:
    """One sheet, row by row (openpyxl's read-only mode); rows with no value at all are not rows."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, openpyxl and XML errors: not a workbook
        raise DataError(
            f"{path}: is not a readable Excel workbook ({why_not_a_workbook(exc)}). "
            "Open it in Excel and save it again as .xlsx, or as CSV."
        ) from None
    try:
        rows = workbook[choose_sheet(workbook.sheetnames, source.sheet, path)].iter_rows(values_only=True)
        header = list(next(rows, ()))
        check_header(header, path)
        columns = [f"Unnamed: {i}" if value is None else str(value) for i, value in enumerate(header)]
        pending = []
        for row in rows:
            if any(value is not None for value in row):
                pending.append(row[: len(columns)])
            if len(pending) == 4096:
                yield pd.DataFrame.from_records(pending, columns=columns)
                pending = []
        if pending:
            yield pd.DataFrame.from_records(pending, columns=columns)
    finally:
        workbook.close()


def read_whole_file(source: Source, path: Path) -> Iterator[pd.DataFrame]:
    """A JSON list cannot be read a part at a time: it is read whole (readers.py)."""
    yield read_file(path).frame


FILE_READERS = {
    "csv": read_csv_file,
    "tsv": read_csv_file,
    "jsonl": read_lines_file,
    "txt": read_lines_file,
    "parquet": read_parquet_file,
    "excel": read_excel_file,
    "json": read_whole_file,
}


def _ends_sha256(path: Path, size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        digest.update(f.read(size))
        f.seek(max(0, path.stat().st_size - size))
        digest.update(f.read(size))
    return digest.hexdigest()


# --- writing ----------------------------------------------------------------------------------
def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def check_output(output: Path) -> None:
    if output.suffix.lower() not in OUTPUTS:
        raise DataError(f"--output must end in {', '.join(OUTPUTS)}, not '{output.suffix or output.name}'")
    if not output.parent.is_dir():
        raise DataError(f"--output: the folder {output.parent} does not exist")


def resumable(output: Path) -> bool:
    return output.suffix.lower() in RESUMABLE_OUTPUTS


def check_fits(output: Path, rows: int | None) -> None:
    """Refuse, before any work, an input known (`rows`) to be too long for an Excel sheet."""
    if output.suffix.lower() == ".xlsx" and rows is not None and rows > EXCEL_MAX_ROWS - 1:
        raise DataError(excel_too_long(output, f"the input has {rows:,} rows"))


def excel_too_long(output: Path, why: str) -> str:
    return (
        f"{output.name}: an Excel sheet holds at most {EXCEL_MAX_ROWS:,} rows (header included) and {why}; "
        "write .csv or .parquet instead"
    )


def open_sink(output: Path, partial: Path, position: int, percent: tuple[str, ...] | list[str] = ()):
    """A writer for `output`'s format into `partial`, cut back to `position` (0: a new file).
    `percent`: the columns of probabilities (0-1) an Excel sheet shows as percentages."""
    check_output(output)
    if output.suffix.lower() == ".parquet":
        return ParquetSink(partial, position)
    if output.suffix.lower() == ".xlsx":
        return ExcelSink(output, partial, percent)
    return TextSink(output, partial, position)


NUMBER = re.compile(r"-?(?:0|[1-9]\d{0,14})(?:\.\d+)?")
"""A number as text that Excel holds exactly as a number: no leading zero (an id such as 007 stays text),
at most 15 digits before the point (Excel keeps 15 significant digits)."""
DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?")
"""An ISO date, or date and time, as text."""
DATE_FORMAT, DATETIME_FORMAT, PERCENT_FORMAT = "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss", "0.0%"


def _missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)


def typed_text(value: str, kind: str):
    """`value` as the number or date (`kind`) it spells, or None when it spells none."""
    if kind == "number" and NUMBER.fullmatch(value):
        return float(value) if "." in value else int(value)
    if kind == "date" and DATE.fullmatch(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def text_kind(values: pd.Series) -> str | None:
    """ "number" or "date" when every text in `values` spells one (a CSV read as text); "text" when
    some do not; None when the column holds no text here (decided at a later batch)."""
    present = [v for v in values if not _missing(v)]
    texts = [v.strip() for v in present if isinstance(v, str) and v.strip()]
    if not texts:
        return None
    if len(texts) < len(present):  # numbers beside texts (a workbook's own mix), or blank texts: as they are
        return "text"
    for kind, pattern in (("number", NUMBER), ("date", DATE)):
        if all(pattern.fullmatch(t) for t in texts):
            return kind
    return "text"


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    scores = [c for c in frame.columns if c == "score" or re.fullmatch(r"score_\d+", str(c))]
    return frame.assign(**{c: frame[c].round(SCORE_DIGITS) for c in scores}) if scores else frame


class TextSink:
    """CSV, TSV or JSON Lines, appended batch by batch and made durable (fsync) before its offset is reported."""

    def __init__(self, output: Path, partial: Path, position: int):
        self.format = output.suffix.lower()
        self.partial = partial
        self.file = partial.open("r+b" if position and partial.exists() else "wb")
        self.file.truncate(position)
        self.file.seek(position)

    def write(self, frame: pd.DataFrame) -> int:
        frame = _rounded(frame)
        if self.format == ".jsonl":
            text = frame.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
            text = text if text.endswith("\n") else text + "\n"
        else:
            text = frame.to_csv(
                index=False,
                header=self.file.tell() == 0,
                lineterminator="\n",
                sep="\t" if self.format == ".tsv" else ",",
            )
        self.file.write(text.encode("utf-8"))
        self.file.flush()
        os.fsync(self.file.fileno())
        return self.file.tell()

    def finish(self, output: Path) -> None:
        self.file.close()
        os.replace(self.partial, output)

    def close(self) -> None:
        self.file.close()


class ParquetSink:
    """One part file a batch in the folder `OUT.partial` (a killed job loses at most the part being
    written), merged into one file of large row groups at the end, a part at a time."""

    ROW_GROUP_ROWS = 65_536

    def __init__(self, folder: Path, position: int):
        self.folder = folder
        if not position and folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(exist_ok=True)
        self.parts = position
        for stale in self._part_files()[position:]:  # written after the last recorded batch
            stale.unlink()
        self.schema = self._read_schema() if position else None

    def _part_files(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.parquet"))

    def _read_schema(self):
        import pyarrow.parquet as pq

        return pq.read_schema(self.folder / "part-000000.parquet")

    def write(self, frame: pd.DataFrame) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.schema is None:  # a column empty in the first batch is text, not Arrow's type-less null
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self.schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema])
        try:
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
            raise DataError(
                f"a column changes type part-way through the input ({exc}); Parquet needs one type a "
                "column: write .csv or .jsonl instead"
            ) from None
        target = self.folder / f"part-{self.parts:06d}.parquet"
        written = target.with_suffix(".tmp")
        pq.write_table(table, written)
        with written.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(written, target)
        self.parts += 1
        return self.parts

    def finish(self, output: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        merged = self.folder / "merged.parquet.tmp"
        parts = self._part_files()
        schema = self.schema or (self._read_schema() if parts else pa.schema([]))
        with pq.ParquetWriter(merged, schema) as writer:
            pending, rows = [], 0
            for part in parts:
                pending.append(pq.read_table(part, schema=schema))
                rows += pending[-1].num_rows
                if rows >= self.ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending), row_group_size=rows)
                    pending, rows = [], 0
            if pending:
                writer.write_table(pa.concat_tables(pending), row_group_size=rows)
        os.replace(merged, output)
        shutil.rmtree(self.folder)  # the parts are in the output now: a finished job leaves nothing behind

    def close(self) -> None:
        pass


class ExcelSink:
    """An .xlsx workbook of one sheet, "predictions", written row by row (openpyxl's write-only mode
    keeps the rows in a temporary file, not in memory) and zipped into `partial` at the end. Not
    resumable: the position is the rows written. Texts stay texts: one starting with "=" is not run
    as a formula, characters Excel cannot hold are dropped, a cell is cut at Excel's 32,767. A column
    whose texts all spell numbers (not ids with a leading zero) or ISO dates, as a CSV's do, gets
    numbers and dates, decided at its first batch with text; dates show as dates, and the `percent`
    columns (probabilities) as percentages."""

    SHEET = "predictions"
    MAX_CHARS = 32_767

    def __init__(self, output: Path, partial: Path, percent=()):
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE

        self.output, self.partial, self.percent = output, partial, set(percent)
        self.text_cell, self.error_codes, self.illegal = WriteOnlyCell, ERROR_CODES, ILLEGAL_CHARACTERS_RE
        self.workbook = Workbook(write_only=True)
        self.sheet = self.workbook.create_sheet(self.SHEET)
        self.rows = 0  # the header included
        self.kinds: dict[int, str] = {}  # column position -> "number", "date" or "text", once decided

    def write(self, frame: pd.DataFrame) -> int:
        if self.rows + len(frame) + (self.rows == 0) > EXCEL_MAX_ROWS:
            raise DataError(excel_too_long(self.output, f"the input has more than {EXCEL_MAX_ROWS - 1:,} rows"))
        if self.rows == 0:
            self.sheet.append([self._cell(str(c)) for c in frame.columns])
            self.rows = 1
        frame = _rounded(frame)
        formats = []
        for i, column in enumerate(frame.columns):
            texts = pd.api.types.is_object_dtype(frame[column]) or pd.api.types.is_string_dtype(frame[column])
            if i not in self.kinds and texts and (kind := text_kind(frame[column])):
                self.kinds[i] = kind
            formats.append(PERCENT_FORMAT if column in self.percent else self.kinds.get(i))
        for row in frame.itertuples(index=False, name=None):
            self.sheet.append([self._formatted(v, f) for v, f in zip(row, formats)])
        self.rows += len(frame)
        return self.rows

    def _formatted(self, value, kind: str | None):
        """The cell of `value` in a column of `kind` ("number", "date", a percent format, or text)."""
        if isinstance(value, str) and kind in ("number", "date"):
            typed = typed_text(value.strip(), kind)
            value = value if typed is None else typed
        cell = self._cell(value)
        if isinstance(cell, datetime):
            number_format = DATE_FORMAT if cell == datetime(cell.year, cell.month, cell.day) else DATETIME_FORMAT
        elif kind == PERCENT_FORMAT and isinstance(cell, (int, float)) and not isinstance(cell, bool):
            number_format = PERCENT_FORMAT
        else:
            return cell
        formatted = self.text_cell(self.sheet, value=cell)
        formatted.number_format = number_format
        return formatted

    def _cell(self, value):
        if _missing(value):
            return None
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (list, dict, np.ndarray)):  # nested JSON Lines values
            value = json.dumps(
                value.tolist() if isinstance(value, np.ndarray) else value, ensure_ascii=False, default=str
            )
        elif isinstance(value, datetime) and value.tzinfo is not None:  # Excel has no time zones
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if not isinstance(value, str):
            return value
        value = self.illegal.sub("", value)[: self.MAX_CHARS]
        if not value.startswith("=") and value not in self.error_codes:
            return value
        cell = self.text_cell(self.sheet, value=value)
        cell.data_type = "s"  # "=..." or "#N/A" in a message is text, not a formula or an error
        return cell

    def finish(self, output: Path) -> None:
        self.workbook.save(self.partial)
        os.replace(self.partial, output)

    def close(self) -> None:
        """Given up part-way: end openpyxl's row writer (collected open, it writes to a closed file)
        and remove its temporary file."""
        if self.sheet.closed:
            return
        self.sheet.close()
        if self.sheet._writer is not None:
            self.sheet._writer.cleanup()


def remove_partial(partial: Path) -> None:
    if partial.is_dir():
        shutil.rmtree(partial)
    elif partial.exists():
        partial.unlink()
