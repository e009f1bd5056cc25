"""Pictures for the dashboard, drawn here as inline SVG: no script, no external asset, no style
attribute (the pages' CSP allows only our stylesheet, whose classes colour the series in
light and dark). Each picture is `role="img"` with a label; its figures are in a table beside it,
so nothing here is the only way to read a number.
"""

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 14, 34


def _nice_top(value: float) -> int:
    """The axis's top: the value rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    top, step = 1, 1
    while top < value:
        for factor in (2, 5, 10):
            top = step * factor
            if top >= value:
                break
        step *= 10
    return max(top, 1)


def _frame(label: str, body: list[str], top: int, x_labels: list[tuple[float, str]]) -> Markup:
    """The SVG around a plot: the y axis (0, half, top), its grid lines and the x labels."""
    plot_h = HEIGHT - _TOP - _BOTTOM
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}"'
             ' focusable="false">']
    for fraction in (0, 0.5, 1):
        y = _TOP + plot_h * (1 - fraction)
        value = top * fraction
        text = f"{value:g}" if value == int(value) else f"{value:.1f}"
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{_LEFT - 6}" y="{y + 6:.1f}" text-anchor="end">{escape(text)}</text>')
    for n, (x, text) in enumerate(x_labels):
        # The first and last labels lean inwards, so that neither is cut at the edge.
        anchor = "start" if n == 0 else "end" if n == len(x_labels) - 1 else "middle"
        parts.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">{escape(text)}</text>')
    parts.extend(body)
    parts.append("</svg>")
    return Markup("".join(parts))


def _day_labels(days: list[str], x_of) -> list[tuple[float, str]]:
    """Month-day under the first, middle and last day."""
    if not days:
        return []
    picks = sorted({0, len(days) // 2, len(days) - 1})
    return [(x_of(i), days[i][5:]) for i in picks]


def stacked_columns(label: str, days: list[str], series: list[str], values: dict[str, dict[str, int]]) -> Markup:
    """One column a day, stacked by series (coloured by the series' position: class s0, s1...)."""
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    top = _nice_top(max((sum(values.get(d, {}).values()) for d in days), default=0))
    width = plot_w / max(len(days), 1)

    def x_of(i: int) -> float:
        return _LEFT + width * (i + 0.5)

    body = []
    for i, day in enumerate(days):
        y = _TOP + plot_h
        for n, name in enumerate(series):
            count = values.get(day, {}).get(name, 0)
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            body.append(f'<rect class="s{n % 9}" x="{_LEFT + width * i + width * 0.1:.1f}" y="{y:.1f}"'
                        f' width="{max(width * 0.8, 1):.1f}" height="{h:.1f}"/>')
    return _frame(label, body, top, _day_labels(days, x_of))


def lines(label: str, days: list[str], series: list[tuple[str, list[int]]]) -> Markup:
    """One line a series over the days (class s0, s1...; also dashed differently, not by colour alone)."""
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    top = _nice_top(max((v for _, values in series for v in values), default=0))
    step = plot_w / max(len(days) - 1, 1)

    def x_of(i: int) -> float:
        return _LEFT + step * i

    body = []
    for n, (_, values) in enumerate(series):
        points = " ".join(f"{x_of(i):.1f},{_TOP + plot_h * (1 - v / top):.1f}" for i, v in enumerate(values))
        body.append(f'<polyline class="line l{n % 3} s{n % 9}" points="{points}"/>')
    return _frame(label, body, top, _day_labels(days, x_of))


def bars(label: str, rows: list[tuple[str, float]], shown: list[str], series: int = 4) -> Markup:
    """One horizontal bar a row (its name on the left, `shown` text at its end), in series colour `series`."""
    row_h = 34
    height = row_h * max(len(rows), 1) + 8
    name_w, plot_w = 250, WIDTH - 250 - 100
    top = max((value for _, value in rows), default=0) or 1
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}"'
             ' focusable="false">']
    for i, ((name, value), text) in enumerate(zip(rows, shown, strict=True)):
        y = 4 + row_h * i
        w = max(plot_w * value / top, 1 if value else 0)
        short = name if len(name) <= 22 else name[:21] + "…"  # the table beside has it whole
        parts.append(f'<text class="axis" x="{name_w - 8}" y="{y + 22}" text-anchor="end">{escape(short)}</text>')
        parts.append(f'<rect class="s{series}" x="{name_w}" y="{y + 4}" width="{w:.1f}" height="24"/>')
        parts.append(f'<text class="axis" x="{name_w + w + 6:.1f}" y="{y + 22}">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
