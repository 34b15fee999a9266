"""Turn the runs into one table of figure, ceiling, ratio, target and verdict."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One line of the table; RATIO rows compare with a ceiling, LIMIT rows with a bound."""

    measure: str
    figure: float | None
    ceiling: float | None = None
    ratio: float | None = None
    spread: str = ""
    target: str = ""
    passed: bool | None = None
    note: str = ""


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def ratio_row(measure, runs, figure, ceiling, key, minimum=None) -> Row:
    """Compare FIGURE with CEILING repeat by repeat; the ratio is the median of the ratios."""
    ratios = [f[key] / c[key] for f, c in zip(runs[figure], runs[ceiling], strict=True)]
    ratio = statistics.median(ratios)
    failed = failed_requests(runs[figure])
    return Row(
        measure,
        _median(runs[figure], key),
        _median(runs[ceiling], key),
        ratio,
        f"{min(ratios):.2f}-{max(ratios):.2f}",
        f">= {minimum}" if minimum is not None else "",
        None if minimum is None else ratio >= minimum and not failed,
        f"{failed} requests failed" if failed else "",
    )


def failed_requests(runs: list[dict]) -> int:
    """Count the requests of RUNS that did not answer 2xx."""
    return sum(len(run.get("failures", ())) + run.get("non_2xx", 0) for run in runs)


def limit_row(measure, value, maximum, note="") -> Row:
    """Compare one figure with an upper bound."""
    return Row(measure, value, target=f"<= {maximum}", passed=value <= maximum, note=note)


def skipped_row(measure, reason) -> Row:
    """A measure that could not run, with the reason."""
    return Row(measure, None, note=f"skipped: {reason}")


def _cell(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def render(rows: list[Row]) -> str:
    """Format the rows as a Markdown table."""
    lines = [
        "| measure | figure | ceiling | ratio (min-max) | target | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        verdict = {True: "PASS", False: "FAIL", None: ""}[row.passed]
        ratio = f"{row.ratio:.2f} ({row.spread})" if row.ratio is not None else ""
        result = " ".join(part for part in (verdict, row.note) if part)
        lines.append(
            f"| {row.measure} | {_cell(row.figure, 1)} | {_cell(row.ceiling, 1)} | {ratio} "
            f"| {row.target} | {result} |"
        )
    return "\n".join(lines)
