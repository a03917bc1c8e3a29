"""A line chart of one metric over time (QtCharts)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from PySide6.QtCharts import QChart, QChartView, QDateTimeAxis, QLineSeries, QValueAxis
from PySide6.QtCore import QDateTime, QEvent, QMargins, QPointF, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from desktop.models.chart import CHARTABLE, series_by_date
from desktop.tasks import Task, run_in_background
from desktop.views.paint import after_next_paint


class ReportChart(QWidget):
    """Shows the chosen metric per date of the current report."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._report: dict[str, Any] | None = None
        self._pending: Task[list[tuple[date, Decimal, QPointF]]] | None = None
        self._generation = self._drawn = 0  # which redraw was asked for, which is shown
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        label = QLabel("Chart")
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
        self.chart.legend().hide()
        self.chart.setMargins(QMargins(4, 4, 4, 4))
        self.chart.setBackgroundRoundness(6)
        self.series = QLineSeries()
        self.chart.addSeries(self.series)
        self.x_axis = QDateTimeAxis()
        self.x_axis.setFormat("d MMM")
        self.y_axis = QValueAxis()
        self.y_axis.setLabelFormat("%.0f")
        self.chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        self.chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        self.series.attachAxis(self.x_axis)
        self.series.attachAxis(self.y_axis)
        self.view = QChartView(self.chart)
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.view.setAccessibleName("Chart of the chosen metric over time")
        self.view.setMinimumHeight(180)
        layout.addWidget(self.view, 1)
        self._apply_palette()

    def _apply_palette(self) -> None:
        # Follow the window's light or dark palette instead of QtCharts' fixed white theme.
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        grid = palette.color(QPalette.ColorRole.Mid)
        self.chart.setBackgroundBrush(base)
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

    def set_report(self, report: dict[str, Any] | None) -> None:
        self._report = report
        self._redraw()

    def _redraw(self, *_: object) -> None:
        # Summing 100,000 rows of Decimals takes a few hundred ms: never on the UI thread, and
        # not while the new table paints either. Every C++ call into a Python model or widget
        # during a paint takes the GIL, and a busy worker makes each of them wait its turn
        # (bench/ui_stall.py: a 300-700 ms paint): the sums start once the window has painted.
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._generation += 1
        report, metric = self._report, self.chart_metric()
        if not report:
            self._draw([])
            return
        generation = self._generation

        def start() -> None:
            if generation != self._generation:
                return  # a newer report or metric took over meanwhile
            self._pending = run_in_background(
                self, lambda: _plot(series_by_date(report, metric)), success=self._draw
            )

        after_next_paint(self.window(), start)

    @property
    def busy(self) -> bool:
        """The chart is not yet showing the current report and metric."""
        return self._pending is not None or self._drawn != self._generation

    def _draw(self, plot: list[tuple[date, Decimal, QPointF]]) -> None:
        self._pending = None
        self._drawn = self._generation
        # One replace, not clear() + append(): append re-lays the series out per point
        # (1,000 days: ~120 ms on the UI thread; replace: under 1 ms, bench/ui_stall.py).
        self.series.replace([point for _, _, point in plot])
        self.chart.setTitle("")
        if not plot:
            return
        first, last = plot[0][0], plot[-1][0]
        self.x_axis.setRange(_stamp(first), _stamp(last if last > first else first))
        self.x_axis.setTickCount(min(len(plot), 7) if len(plot) > 1 else 2)
        top = max(value for _, value, _ in plot)
        self.y_axis.setRange(0, float(top * Decimal("1.1")) if top > 0 else 1.0)
        self.y_axis.setLabelFormat(
            "%.2f" if self.chart_metric() in {"ctr", "cpc", "cpm"} else "%.0f"
        )
        self.y_axis.applyNiceNumbers()


def _plot(points: list[tuple[date, Decimal]]) -> list[tuple[date, Decimal, QPointF]]:
    """The points with their chart coordinates, made on the worker (QPointF is a value)."""
    return [(day, value, _point(day, value)) for day, value in points]


def _stamp(day: date) -> QDateTime:
    return QDateTime(datetime.combine(day, time(12)))


def _point(day: date, value: Decimal) -> QPointF:
    return QPointF(float(_stamp(day).toMSecsSinceEpoch()), float(value))
