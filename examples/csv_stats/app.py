"""csv_stats: parses a CSV document from the params and returns, per
numeric column, count, sum, mean, min and max (Python's csv and statistics
modules in the sandbox).

    taskbox run csv_stats --params '{"csv": "city,temp\\nOslo,4\\nRome,19\\n"}'
    → {"rows": 2, "columns": {"temp": {"count": 2, "sum": 23.0, "mean": 11.5, ...}}}

Params: ``csv`` (the text, with a header row), ``delimiter`` (default ``,``).
"""

import csv
import io
import statistics

from taskbox import log


def run(ctx, params):
    text = params.get("csv")
    if not isinstance(text, str):
        raise ValueError("params: `csv` (the CSV text, with a header row) is required")
    reader = csv.DictReader(io.StringIO(text), delimiter=params.get("delimiter", ","))
    values = {}
    rows = 0
    for row in reader:
        rows += 1
        for column, cell in row.items():
            try:
                values.setdefault(column, []).append(float(cell))
            except (TypeError, ValueError):
                values.setdefault(column, None)
    log.info("read %d rows and %d columns", rows, len(values))
    columns = {
        name: {
            "count": len(numbers),
            "sum": sum(numbers),
            "mean": statistics.fmean(numbers),
            "min": min(numbers),
            "max": max(numbers),
        }
        for name, numbers in values.items()
        if numbers
    }
    return {"rows": rows, "columns": columns}
