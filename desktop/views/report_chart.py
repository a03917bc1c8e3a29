"""A line chart of one metric over time, a series per top-N entity (QtCharts)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from typing import Any

from PySide6.QtCharts import (
    QCategoryAxis,
    QChart,
    QChartView,
    QDateTimeAxis,
    QLineSeries,
)
from PySide6.QtCore import QDateTime, QEvent, QLocale, QMargins, QPointF, Qt, QTimer
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QVBoxLayout, QWidget

from desktop.concurrency.after_paint import after_next_paint
from desktop.concurrency.columnar import ColumnarRows, Decoded
from desktop.concurrency.tasks import Task, run_in_background
from desktop.models.chart_top import NEEDS, axis_label, nice_ticks, top_series
from desktop.models.report_query import METRICS
from desktop.views.widgets import PlainLabel

log = logging.getLogger(__name__)

CHARTABLE = {k: v for k, v in METRICS.items() if k in NEEDS}
Frame = tuple[date, date, int, float]
"""The plot's first and last day, its number of days and its highest value."""
Plot = tuple[list[tuple[str, list[QPointF]]], Frame | None]


class ReportChart(QWidget):
    """Shows the chosen metric per date, one line per top entity of the current report."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        start: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """`start`: when the sums go on the pool (by default after the window's next paint)."""
        super().__init__(parent)
        self._start = start or (lambda go: after_next_paint(self.window(), go))
        self._report: dict[str, Any] | None = None  # all but the rows
        self._rows: ColumnarRows | None = None
        self._pending: Task[Plot] | None = None
        self._steps: Iterator[None] | None = None  # the plot being handed to QtCharts
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        label = PlainLabel("Chart")
        label.setObjectName("sectionTitle")
        bar.addWidget(label)
        bar.addStretch(1)
        self.metric_box = QComboBox()
        self.metric_box.setAccessibleName("Metric to chart")
        for key, text in CHARTABLE.items():
            self.metric_box.addItem(text, key)
        self.metric_box.setCurrentIndex(self.metric_box.findData("spend"))
        self.metric_box.currentIndexChanged.connect(self._redraw)
        bar.addWidget(self.metric_box)
        layout.addLayout(bar)

        self.chart = QChart()
        self.chart.legend().setAlignment(Qt.AlignmentFlag.AlignRight)
        self.chart.legend().hide()
        self.chart.setMargins(QMargins(4, 4, 4, 4))
        self.chart.setBackgroundRoundness(6)
        self.x_axis = QDateTimeAxis()
        self.x_axis.setFormat("d MMM")
        # Category labels placed on values: QValueAxis only knows printf formats, which have
        # neither the locale's thousands separators nor a currency.
        self.y_axis = QCategoryAxis()
        self.y_axis.setLabelsPosition(QCategoryAxis.AxisLabelsPosition.AxisLabelsPositionOnValue)
        self.chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        self.chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        self.lines: list[QLineSeries] = []
        self.series = self._add_series("Total")  # the first (top) series; always present
        self.view = QChartView(self.chart)
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.view.setAccessibleName("Chart of the chosen metric over time")
        self.view.setMinimumHeight(180)
        layout.addWidget(self.view, 1)
        self._apply_palette()
        self._draw(([], None))  # nothing loaded yet: no axes

    def _add_series(self, name: str) -> QLineSeries:
        series = QLineSeries()
        series.setName(name)
        self.chart.addSeries(series)
        series.attachAxis(self.x_axis)
        series.attachAxis(self.y_axis)
        self.lines.append(series)
        return series

    def _apply_palette(self) -> None:
        # Follow the window's light or dark palette instead of QtCharts' fixed white theme.
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        grid = palette.color(QPalette.ColorRole.Mid)
        self.chart.setBackgroundBrush(base)
        self.chart.legend().setLabelColor(text)
        self.chart.setTitleBrush(text)
        for axis in (self.x_axis, self.y_axis):
            axis.setLabelsColor(text)
            axis.setGridLineColor(grid)
            axis.setLinePenColor(grid)
        pen = self.series.pen()
        pen.setWidth(2)
        pen.setColor(palette.color(QPalette.ColorRole.Highlight))
        self.series.setPen(pen)

    def changeEvent(self, event: QEvent) -> None:
        # The system switched between light and dark: QtCharts does not follow by itself.
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def chart_metric(self) -> str:
        return str(self.metric_box.currentData())

    def set_metric(self, key: str) -> None:
        self.metric_box.setCurrentIndex(self.metric_box.findData(key))

    def set_report(self, report: Decoded | None) -> None:
        self._report, self._rows = report if report is not None else (None, None)
        self._redraw()

    def _redraw(self, *_: object) -> None:
        # Grouped and summed with numpy on a worker (desktop/models/chart_top.py): a million
        # rows in a fraction of a second, mostly without the GIL.
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        report, rows, metric = self._report, self._rows, self.chart_metric()
        if not report or rows is None:
            self._draw(([], None))
            return
        columns = list(report.get("columns") or [])
        # Started once the table has painted the new rows: even a mostly GIL-free numpy worker
        # makes every call of that paint into Python wait for the GIL (bench/ui_stall.py).
        self._pending = run_in_background(
            self,
            lambda: _plot(columns, rows, metric),
            success=self._draw,
            failure=self._failed,
            start=self._start,
        )

    def _failed(self, error: Exception) -> None:
        log.warning("The chart could not be drawn: %s", type(error).__name__)
        self._draw(([], None))

    @property
    def busy(self) -> bool:
        """The chart is not yet showing the current report and metric."""
        return self._pending is not None or self._steps is not None

    def axis_labels(self) -> list[str]:
        return list(self.y_axis.categoriesLabels())

    def series_names(self) -> list[str]:
        return [s.name() for s in self.lines if s.count()]

    def _draw(self, plot: Plot) -> None:
        """Show `plot`: the axes first, then one series per pass of the event loop (a series
        of 1,000 points takes ~0.7 ms to hand to QtCharts; six at once were a frame)."""
        self._pending = None
        self._steps = steps = self._draw_steps(plot)
        self._next_step(steps)

    def _next_step(self, steps: Iterator[None]) -> None:
        if steps is not self._steps:
            return  # a newer plot took over
        try:
            next(steps)
        except StopIteration:
            self._steps = None
            return
        QTimer.singleShot(0, self, lambda: self._next_step(steps))

    def _draw_steps(self, plot: Plot) -> Iterator[None]:
        for series in self.lines:  # emptied first: axis changes re-lay out every point shown
            series.replace([])
            series.setVisible(False)
        series_list, frame = plot
        while len(self.lines) < len(series_list):
            self._add_series("")
        self.chart.legend().setVisible(len(series_list) > 1)
        for label in self.y_axis.categoriesLabels():
            self.y_axis.remove(label)
        # No points, no axes: empty ones show made-up ticks ("1 Jan" five times, "1, 1, 0").
        self.x_axis.setVisible(frame is not None)
        self.y_axis.setVisible(frame is not None)
        self.chart.setTitle("" if frame is not None else "Load a report to see it here.")
        if frame is None:
            return
        first, last, day_count, top = frame
        self.x_axis.setRange(_stamp(first), _stamp(last if last > first else first))
        self.x_axis.setTickCount(min(day_count, 7) if day_count > 1 else 2)
        ticks = nice_ticks(top)
        currency = _currency(self._report)
        locale, metric = QLocale(), self.chart_metric()
        for value in ticks:
            self.y_axis.append(axis_label(value, metric, currency, locale), value)
        self.y_axis.setStartValue(0)
        self.y_axis.setRange(0, ticks[-1])
        for series, (name, points) in zip(self.lines, series_list, strict=False):
            yield
            series.setName(name)
            series.setVisible(bool(points))
            # One replace, not clear() + append(): append re-lays the series out per point.
            series.replace(points)


def _currency(report: dict[str, Any] | None) -> str:
    """The report's one currency; none when its accounts use several (money is never added
    across currencies, and an axis must not pretend it was)."""
    by_currency = (report or {}).get("totals_by_currency") or {}
    if len(by_currency) > 1:
        return ""
    if len(by_currency) == 1:
        return str(next(iter(by_currency)))
    return str(((report or {}).get("account") or {}).get("currency") or "")


def _plot(columns: list[dict[str, Any]], rows: ColumnarRows, metric: str) -> Plot:
    """Each series' points as chart coordinates, and the frame the axes need (on a worker)."""
    series = top_series(columns, rows, metric)
    days = sorted({day for _, points in series for day, _ in points})
    if not days:
        return [], None
    top = max(float(v) for _, points in series for _, v in points)
    lines = [(name, [_point(day, float(v)) for day, v in points]) for name, points in series]
    return lines, (days[0], days[-1], len(days), top)


def _stamp(day: date) -> QDateTime:
    return QDateTime(day.year, day.month, day.day, 12, 0, 0)  # local time, as _point's


def _point(day: date, value: float) -> QPointF:
    # Noon local time, as _stamp (and so the axis) has it; datetime's arithmetic is ~50x
    # cheaper than a QDateTime per point.
    return QPointF(datetime.combine(day, time(12)).timestamp() * 1000, value)
