"""What the page shows of a file before classifying it: its sheets (Excel), columns, first rows and
the text column found."""

from __future__ import annotations

from pathlib import Path

from ..errors import naming_the_upload

PREVIEW_ROWS = 5
PREVIEW_CHARS = 200


def inspect_file(path: Path, display: str, sheet: str | None = None) -> dict:
    """What the page shows before classifying: the sheets (Excel), the columns, the first rows and
    the text column found. Without `sheet`, a workbook's first sheet that has rows."""
    from ....data.readers import choose_sheet
    from ....data.streaming import Source, kind
    from ....data.texts import find_text_column
    from ....errors import DataError

    try:
        sheets = _sheet_names(path) if kind(path) == "excel" else None
        candidates = [choose_sheet(sheets, sheet, path)] if sheets and sheet else sheets or [None]
        first = None
        for candidate in candidates:
            first = next((frame for frame in Source(path, candidate).frames() if len(frame)), None)
            if first is not None:
                sheet = candidate
                break
        if first is None:
            where = f"sheet '{candidates[0]}' of " if sheets and len(candidates) == 1 and len(sheets) > 1 else ""
            raise DataError(f"{where}{path} has no data rows")
    except DataError as exc:
        raise naming_the_upload(exc, path, display) from None
    first.columns = [str(c) for c in first.columns]
    try:
        text_column, problem = find_text_column(first, display), None
    except DataError as exc:
        text_column, problem = None, str(exc).replace("; use --text-column", ": pick it below")
    head = first.head(PREVIEW_ROWS).astype(object).where(first.head(PREVIEW_ROWS).notna(), "")
    preview = [[_cell(v) for v in row] for row in head.itertuples(index=False, name=None)]
    return {
        "sheets": sheets,
        "sheet": sheet,
        "columns": list(first.columns),
        "preview": preview,
        "text_column": text_column,
        "problem": problem,
    }


def _sheet_names(path: Path) -> list[str]:
    from openpyxl import load_workbook

    from ....data.readers import why_not_a_workbook
    from ....errors import DataError

    try:
        workbook = load_workbook(path, read_only=True)
    except Exception as exc:  # zipfile, openpyxl and XML errors: not a workbook
        raise DataError(
            f"{path}: is not a readable Excel workbook ({why_not_a_workbook(exc)}). "
            "Open it in Excel and save it again as .xlsx, or as CSV."
        ) from None
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def _cell(value) -> str:
    text = str(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
