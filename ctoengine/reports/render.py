"""A report as a terminal table, a CSV file and a PNG chart."""

from __future__ import annotations

import csv
from pathlib import Path

from ctoengine.errors import UsageError
from ctoengine.reports.figures import COLUMNS, TOTAL, Figures

_SHARES = {"service_level", "lost_share"}
_SECONDS = {"asa_s", "aht_s"}


def _cell(column: str, v: int | float | None, *, exact: bool) -> str:
    if v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    if column in _SHARES:
        return f"{v:.4f}" if exact else f"{v * 100:.1f}%"
    return f"{v:.3f}" if exact else f"{v:.1f}"


def table(by: str, groups: dict[str, Figures], total: Figures, title: str) -> str:
    header = [by, *COLUMNS]
    rows = [[k, *(_cell(c, f.value(c), exact=False) for c in COLUMNS)] for k, f in groups.items()]
    rows.append([TOTAL, *(_cell(c, total.value(c), exact=False) for c in COLUMNS)])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        cells = (v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True))
        return "  ".join([r[0].ljust(widths[0]), *cells])

    return "\n".join([title, line(header), *map(line, rows)])


def write_csv(path: Path, by: str, groups: dict[str, Figures], total: Figures) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([by, *COLUMNS])
        for k, fig in [*groups.items(), (TOTAL, total)]:
            w.writerow([k, *(_cell(c, fig.value(c), exact=True) for c in COLUMNS)])


CHART_EXTRA_HINT = (
    "--chart needs matplotlib, an optional extra: pip install 'ctoengine[reports]' "
    "(or pip install matplotlib)"
)


def require_matplotlib() -> None:
    """A clear error instead of an ImportError when the [reports] extra is not installed."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError(CHART_EXTRA_HINT)


def chart(path: Path, by: str, groups: dict[str, Figures], title: str) -> None:
    """By hour: service level and lost share against the target and the limit;
    otherwise calls and answered calls per group. Needs the [reports] extra."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a server
    import matplotlib.pyplot as plt

    labels = list(groups)
    xs = range(len(labels))
    fig, ax = plt.subplots(figsize=(max(8.0, 0.45 * len(labels) + 3), 5), dpi=110)
    try:
        if by == "hour":
            sl = [_pct(g.sla.service_level) for g in groups.values()]
            lost = [_pct(g.lost_share) for g in groups.values()]
            ax.plot(xs, sl, marker="o", label="answered within 20 s, %")
            ax.plot(xs, lost, marker="s", label="lost, %")
            ax.axhline(80, color="green", linestyle="--", linewidth=1, label="target 80 %")
            ax.axhline(5, color="red", linestyle="--", linewidth=1, label="limit 5 %")
            ax.set_ylim(0, 105)
            ax.set_ylabel("%")
            ax.set_xticks(list(xs), [label[-5:] for label in labels], rotation=45)
        else:
            calls = [g.calls for g in groups.values()]
            answered = [g.sla.answered for g in groups.values()]
            ax.bar([x - 0.2 for x in xs], calls, width=0.4, label="calls")
            ax.bar([x + 0.2 for x in xs], answered, width=0.4, label="answered by an operator")
            ax.set_ylabel("calls")
            ax.set_xticks(list(xs), labels, rotation=30, ha="right")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def _pct(v: float | None) -> float:
    return float("nan") if v is None else v * 100
