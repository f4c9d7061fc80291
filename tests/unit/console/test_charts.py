"""The SVG charts: scales, stacking, escaping, the empty case, and nothing the CSP blocks."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from ucwatch.console.charts import Series, bar_chart, fmt, hbar_chart, line_chart, nice_ceiling, ticks

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # well-formed XML, or this raises


def rects_with_titles(root: ET.Element) -> list[tuple[float, float, str]]:
    return [(float(r.get("height", 0)), float(r.get("y", 0)), r.findtext(f"{SVG}title") or "")
            for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]


def test_nice_ceiling_and_ticks() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 7, 12, 26, 180, 4_100)] == [1, 0.5, 1, 10, 20, 50, 200, 5_000]
    assert ticks(100) == [0, 25, 50, 75, 100]
    assert (fmt(1234), fmt(2.5), fmt(3.0)) == ("1,234", "2.5", "3")


def test_bars_are_proportional_to_their_values() -> None:
    root = parse(bar_chart(["a", "b"], [Series("n", [10, 40])], title="T"))
    (h1, _, t1), (h2, _, t2) = rects_with_titles(root)
    assert h2 == 4 * h1 and t1 == "a, n: 10" and t2 == "b, n: 40"
    assert root.get("aria-label") == "T" and root.get("role") == "img"


def test_stacked_bars_sit_on_each_other() -> None:
    root = parse(bar_chart(["x"], [Series("low", [30]), Series("high", [10])], title="T", stacked=True))
    (h_low, y_low, _), (h_high, y_high, _) = rects_with_titles(root)
    assert abs((y_high + h_high) - y_low) < 0.11  # the second starts where the first ends
    assert h_low == pytest.approx(3 * h_high, abs=0.2)
    assert {"low", "high"} <= {t.text for t in root.iter(f"{SVG}text")}  # the legend


def test_labels_are_escaped_and_there_is_no_inline_style() -> None:
    text = str(bar_chart(["<script>x</script>"], [Series('a "b" & c', [1])], title="<T>"))
    assert "<script>" not in text and "&lt;script&gt;" in text and "&amp; c" in text
    assert not re.search(r"\sstyle=", text)
    parse(text)


def test_empty_data_says_so() -> None:
    for chart in (bar_chart([], [], title="E"), line_chart(["a"], [Series("s", [0])], title="E"),
                  hbar_chart(["r"], [Series("s", [None])], title="E")):
        assert "No data yet." in chart
        parse(chart)


def test_line_chart_breaks_at_missing_values() -> None:
    root = parse(line_chart(["a", "b", "c", "d"], [Series("s", [1, 2, None, 4])], title="L"))
    lines = list(root.iter(f"{SVG}polyline"))
    assert len(lines) == 1 and len(lines[0].get("points", "").split()) == 2
    assert any(c.findtext(f"{SVG}title") == "s, d: 4" for c in root.iter(f"{SVG}circle"))


def test_horizontal_bars_name_each_category() -> None:
    root = parse(hbar_chart(["LOST_CONTACT", "NTA_NOT_SERVED"], [Series("median", [2.0, 8.0])], title="H", unit=" h"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "LOST_CONTACT" in texts and "NTA_NOT_SERVED" in texts
    widths = [float(r.get("width", 0)) for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert abs(widths[1] - 4 * widths[0]) < 0.2


def test_counts_get_whole_ticks_and_labels_fit() -> None:
    from ucwatch.console.charts import axis_ticks
    assert axis_ticks(1, whole=True) == [0, 1]
    assert axis_ticks(2, whole=True) == [0, 1, 2]
    assert axis_ticks(10, whole=True) == [0, 2, 4, 6, 8, 10]
    assert axis_ticks(20, whole=True) == [0, 5, 10, 15, 20]
    assert axis_ticks(500, whole=True) == [0, 100, 200, 300, 400, 500]  # not 125, 375
    assert axis_ticks(200, whole=True) == [0, 50, 100, 150, 200]
    assert axis_ticks(1, whole=False) == [0, 0.25, 0.5, 0.75, 1]
    assert (fmt(0.25), fmt(0.75), fmt(0.001)) == ("0.25", "0.75", "0.001")
    root = parse(line_chart(["a", "b"], [Series("s", [1, 1])], title="L"))
    assert [t.text for t in root.iter(f"{SVG}text") if t.text and t.text[0].isdigit()] == ["0", "1"]
    shares = parse(line_chart(["a", "b"], [Series("s", [0.6, 0.5])], title="L"))
    assert "0.25" in [t.text for t in shares.iter(f"{SVG}text")]


def test_a_lone_bar_is_not_a_wall() -> None:
    from ucwatch.console.charts import MAX_BAR
    root = parse(bar_chart(["only"], [Series("n", [5])], title="T", width=1300))
    widths = [float(r.get("width", 0)) for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert widths == [MAX_BAR - 1]


def test_long_rule_names_fit_left_of_horizontal_bars() -> None:
    """A rule name is not cut at the chart's left edge (about 8 px per capital at 11 px)."""
    root = parse(hbar_chart(["WHEREABOUTS_UNKNOWN"], [Series("median", [2.0])], title="H"))
    label = next(t for t in root.iter(f"{SVG}text") if t.text == "WHEREABOUTS_UNKNOWN")
    assert float(label.get("x", 0)) >= 19 * 8.0


def test_a_line_chart_of_one_period_draws_bars_not_stacked_dots() -> None:
    root = parse(line_chart(["29 23:00"], [Series("A", [1]), Series("B", [1])], title="L"))
    assert len(rects_with_titles(root)) == 2 and not list(root.iter(f"{SVG}polyline"))
