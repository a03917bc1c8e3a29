"""A line chart of one metric over time (QtCharts)."""

from __future__ import annotations

from collections.abc import Generator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from PySide6.QtCharts import QChart, QChartView, QDateTimeAxis, QLineSeries, QValueAxis
from PySide6.QtCore import QDateTime, QEvent, QMargins, QPointF, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from desktop.models.chart import CHARTABLE, series_by_date_steps
from desktop.tasks import Task, run_in_steps


class ReportChart(QWidget):
    """Shows the chosen metric per date of the current report."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._report: dict[str, Any] | None = None
        self._pending: Task[list[tuple[date, Decimal, QPointF]]] | None = None
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
        # Summing 100,000 rows takes a few hundred ms. On a worker it would share the GIL with
        # the UI thread and stretch every paint meanwhile (bench/ui_stall.py); in steps on the
        # UI thread, between paints, no step is longer than a few ms.
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        report, metric = self._report, self.chart_metric()
        if not report:
            self._draw([])
            return
        self._pending = run_in_steps(self, _plot_steps(report, metric), success=self._draw)

    @property
    def busy(self) -> bool:
        """The chart is not yet showing the current report and metric."""
        return self._pending is not None

    def _draw(self, plot: list[tuple[date, Decimal, QPointF]]) -> None:
        self._pending = None
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


def _plot_steps(
    report: dict[str, Any], metric: str
) -> Generator[None, None, list[tuple[date, Decimal, QPointF]]]:
    """The day's points with their chart coordinates, as steps."""
    points = yield from series_by_date_steps(report, metric)
    return [(day, value, _point(day, value)) for day, value in points]


def _stamp(day: date) -> QDateTime:
    return QDateTime(datetime.combine(day, time(12)))


def _point(day: date, value: Decimal) -> QPointF:
    # Noon local time, as _stamp (and so the axis) has it; datetime's arithmetic is ~50x
    # cheaper than a QDateTime per point.
    return QPointF(datetime.combine(day, time(12)).timestamp() * 1000, float(value))
