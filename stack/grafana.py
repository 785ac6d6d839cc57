"""Grafana provisioning generated in code: the InfluxDB (Flux) datasource and the TickerWire dashboard.

The dashboard is built with grafana-foundation-sdk (Grafana's own typed builders, pinned to the
Grafana 11.6 schema that matches the pinned image): candles per symbol (a candlestick panel repeated
for each value of the ``symbol`` variable), volume, news as annotations, and pipeline health —
Kafka consumer lag, Flink throughput and InfluxDB write errors. The SDK has no InfluxDB query type,
so :class:`FluxQuery` adds one through the SDK's ``Dataquery`` variant interface.

Pipeline metrics reach an InfluxDB 2 through a task (:func:`metrics_task_flux`) that scrapes the
Prometheus endpoints of Flink and of InfluxDB itself every 10 s; the Docker stack's InfluxDB 1.8 has
no tasks, so there those panels stay empty.

Provisioning files are JSON (a subset of YAML, which Grafana reads). The datasource's token is the
caller's (:mod:`stack.plan.grafana` writes that file into the container as a secret file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

try:
    from grafana_foundation_sdk.builders import candlestick, dashboard, stat, timeseries
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.cog import variants as cogvariants
    from grafana_foundation_sdk.cog.builder import Builder
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import candlestick as candlestick_model
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models.dashboard import (
        DashboardCursorSync, DataSourceRef, Threshold, ThresholdsMode, VariableRefresh,
    )
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("Grafana provisioning needs grafana-foundation-sdk: reinstall TickerWire (pip install -e .)") from exc

DASHBOARD_UID = "tickerwire"
DATASOURCE_UID = "tickerwire-influxdb"
PROVISIONING = "/etc/grafana/provisioning"
DASHBOARDS_DIR = "/etc/grafana/dashboards"
TIMEFRAMES = ("1m", "5m", "15m", "1h", "1d")
#: How often the InfluxDB task scrapes the pipeline's metrics.
SCRAPE_EVERY = "10s"

#: Prometheus metric names the pipeline-health panels read (Flink's Prometheus reporter, InfluxDB's /metrics).
CONSUMER_LAG = "flink_taskmanager_job_task_operator_pendingRecords"
FLINK_RECORDS_IN = "flink_taskmanager_job_task_numRecordsInPerSecond"
FLINK_RUNNING_JOBS = "flink_jobmanager_numRunningJobs"
INFLUX_REQUESTS = "http_api_requests_total"

_DATASOURCE = DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)


class FluxDataquery(cogvariants.Dataquery):
    """A query of Grafana's InfluxDB datasource in Flux mode (``{"refId", "query", "datasource"}``)."""

    def __init__(self, ref_id: str, query: str, hide: bool = False) -> None:
        self.ref_id = ref_id
        self.query = query
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"refId": self.ref_id, "query": self.query,
                                   "datasource": {"type": "influxdb", "uid": DATASOURCE_UID}}
        if self.hide:
            data["hide"] = True
        return data


class FluxQuery(Builder[FluxDataquery]):
    """Builder of :class:`FluxDataquery` for the SDK's ``with_target``."""

    def __init__(self, query: str, ref_id: str = "A") -> None:
        self._query = FluxDataquery(ref_id, query)

    def build(self) -> FluxDataquery:
        return self._query


@dataclass
class _FluxAnnotationTarget:
    """An annotation query's target for the InfluxDB datasource (see tests/stack/test_grafana.py on the schema)."""

    query: str

    def to_json(self) -> dict[str, object]:
        return {"refId": "Anno", "query": self.query}


class _AnnotationTarget(Builder[_FluxAnnotationTarget]):
    def __init__(self, query: str) -> None:
        self._target = _FluxAnnotationTarget(query)

    def build(self) -> _FluxAnnotationTarget:
        return self._target


def _flux_string(value: str) -> str:
    """A Flux string literal."""
    return json.dumps(value)


def candles_flux(bucket: str) -> str:
    """OHLCV of ``${symbol}`` at ``${timeframe}``, one row per candle, for the candlestick panel."""
    return (f"from(bucket: {_flux_string(bucket)})\n"
            "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
            '  |> filter(fn: (r) => r._measurement == "candles" and r.symbol == "${symbol}" '
            'and r.timeframe == "${timeframe}")\n'
            '  |> filter(fn: (r) => contains(value: r._field, set: ["open", "high", "low", "close", "volume"]))\n'
            '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
            '  |> keep(columns: ["_time", "open", "high", "low", "close", "volume"])')


def volume_flux(bucket: str) -> str:
    """Volume per selected symbol at ``${timeframe}``."""
    return (f"from(bucket: {_flux_string(bucket)})\n"
            "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
            '  |> filter(fn: (r) => r._measurement == "candles" and r._field == "volume" '
            'and r.timeframe == "${timeframe}")\n'
            "  |> filter(fn: (r) => contains(value: r.symbol, set: ${symbol:json}))\n"
            '  |> keep(columns: ["_time", "_value", "symbol"])\n'
            '  |> group(columns: ["symbol"])')


def news_flux(bucket: str) -> str:
    """News headlines of the selected symbols, as annotation rows (time, text, symbol tag)."""
    return (f"from(bucket: {_flux_string(bucket)})\n"
            "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
            '  |> filter(fn: (r) => r._measurement == "news" and r._field == "title")\n'
            "  |> filter(fn: (r) => contains(value: r.symbol, set: ${symbol:json}))\n"
            '  |> keep(columns: ["_time", "_value", "symbol"])\n'
            '  |> rename(columns: {_value: "text"})')


def symbols_flux(bucket: str) -> str:
    """The symbols that have candles (the ``symbol`` variable)."""
    return (f'import "influxdata/influxdb/schema"\n'
            f'schema.tagValues(bucket: {_flux_string(bucket)}, tag: "symbol", '
            'predicate: (r) => r._measurement == "candles", start: -30d)')


def _metric_flux(metrics_bucket: str, field: str, extra: str = "", fn: str = "mean") -> str:
    return (f"from(bucket: {_flux_string(metrics_bucket)})\n"
            "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
            f'  |> filter(fn: (r) => r._measurement == "prometheus" and r._field == {_flux_string(field)})\n'
            f"{extra}"
            f"  |> aggregateWindow(every: v.windowPeriod, fn: {fn}, createEmpty: false)\n")


def consumer_lag_flux(metrics_bucket: str) -> str:
    """Records the Flink Kafka sources have not read yet, per topic (summed over partitions/subtasks)."""
    return (_metric_flux(metrics_bucket, CONSUMER_LAG, fn="max")
            + '  |> group(columns: ["_time", "operator_name"])\n  |> sum()\n'
            + '  |> group(columns: ["operator_name"])')


def throughput_flux(metrics_bucket: str) -> str:
    """Records per second into Flink's tasks, summed over tasks."""
    return (_metric_flux(metrics_bucket, FLINK_RECORDS_IN)
            + '  |> group(columns: ["_time"])\n  |> sum()\n  |> group()\n'
            + '  |> rename(columns: {_value: "records/s"})')


def write_errors_flux(metrics_bucket: str) -> str:
    """Failed InfluxDB write requests (non-2xx answers to /api/v2/write) per window."""
    extra = '  |> filter(fn: (r) => r.path == "/api/v2/write" and r.status != "2XX")\n' \
            "  |> difference(nonNegative: true)\n"
    return (_metric_flux(metrics_bucket, INFLUX_REQUESTS, extra, fn="sum")
            + '  |> group(columns: ["_time"])\n  |> sum()\n  |> group()\n'
            + '  |> rename(columns: {_value: "failed writes"})')


def running_jobs_flux(metrics_bucket: str) -> str:
    """Jobs the Flink job manager reports as running (1 when the candle job is up)."""
    return _metric_flux(metrics_bucket, FLINK_RUNNING_JOBS, fn="last") + "  |> last()"


def metrics_task_flux(metrics_bucket: str, url: str, name: str) -> str:
    """An InfluxDB task that scrapes one Prometheus endpoint into ``metrics_bucket`` every :data:`SCRAPE_EVERY`."""
    return ('import "experimental/prometheus"\n\n'
            f"option task = {{name: {_flux_string(name)}, every: {SCRAPE_EVERY}}}\n\n"
            f"prometheus.scrape(url: {_flux_string(url)})\n"
            f"  |> to(bucket: {_flux_string(metrics_bucket)})\n")


def _series(title: str, query: str, unit: str, width: int, height: int = 7) -> timeseries.Panel:
    """A time-series panel with a bottom legend and a shared tooltip."""
    return (timeseries.Panel().title(title).datasource(_DATASOURCE).span(width).height(height)
            .with_target(FluxQuery(query)).unit(unit)
            .legend(common_builders.VizLegendOptions().show_legend(True)
                    .display_mode(common.LegendDisplayMode.LIST).placement(common.LegendPlacement.BOTTOM))
            .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                     .sort(common.SortOrder.NONE)))


def build_dashboard(bucket: str, metrics_bucket: str) -> dict:
    """The TickerWire dashboard as Grafana dashboard JSON (schema of Grafana 11.6).

    Args:
        bucket: InfluxDB bucket with the ``candles`` and ``news`` measurements.
        metrics_bucket: Bucket the metrics task scrapes into.
    """
    symbol = (dashboard.QueryVariable("symbol").label("Symbol").datasource(_DATASOURCE)
              .query(symbols_flux(bucket))
              .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).multi(True).include_all(True))
    timeframe = (dashboard.CustomVariable("timeframe").label("Timeframe").values(",".join(TIMEFRAMES))
                 .current({"text": "1m", "value": "1m", "selected": True}))
    news = (dashboard.AnnotationQuery().name("News").datasource(_DATASOURCE).enable(True)
            .icon_color("#FADE2A").target(_AnnotationTarget(news_flux(bucket))))
    candles = (candlestick.Panel().title("${symbol}").datasource(_DATASOURCE).repeat("symbol")
               .repeat_direction("v").span(24).height(10)
               .with_target(FluxQuery(candles_flux(bucket)))
               .mode(candlestick_model.VizDisplayMode.CANDLES_VOLUME)
               .candle_style(candlestick_model.CandleStyle.CANDLES)
               .color_strategy(candlestick_model.ColorStrategy.OPEN_CLOSE)
               .fields(candlestick.CandlestickFieldMap().open("open").high("high").low("low").close("close")
                       .volume("volume")))
    volume = (_series("Volume", volume_flux(bucket), "short", 24, 6)
              .draw_style(common.GraphDrawStyle.BARS).fill_opacity(80))
    lag = _series("Kafka consumer lag (records not yet read by Flink)", consumer_lag_flux(metrics_bucket), "short", 8)
    throughput = _series("Flink throughput", throughput_flux(metrics_bucket), "rps", 8)
    errors = (_series("InfluxDB write errors", write_errors_flux(metrics_bucket), "short", 5)
              .draw_style(common.GraphDrawStyle.BARS))
    running = (stat.Panel().title("Flink jobs running").datasource(_DATASOURCE).span(3).height(7)
               .with_target(FluxQuery(running_jobs_flux(metrics_bucket))).unit("none")
               .graph_mode(common.BigValueGraphMode.NONE).color_mode(common.BigValueColorMode.BACKGROUND)
               .thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([
                   Threshold(color="red", value=0), Threshold(color="green", value=1)])))
    board = (dashboard.Dashboard("TickerWire").uid(DASHBOARD_UID).tags(["tickerwire"]).readonly()
             .timezone("America/New_York").time("now-6h", "now").refresh("10s")
             .tooltip(DashboardCursorSync.CROSSHAIR)
             .with_variable(symbol).with_variable(timeframe).annotation(news)
             .with_row(dashboard.Row("Markets")).with_panel(candles).with_panel(volume)
             .with_row(dashboard.Row("Pipeline health"))
             .with_panel(lag).with_panel(throughput).with_panel(errors).with_panel(running))
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))


def datasources(influx_url: str, org: str, bucket: str, token: str = "$INFLUX_TOKEN") -> dict:
    """Grafana's datasource provisioning: InfluxDB in Flux mode (``user:password`` as the token on 1.8)."""
    return {"apiVersion": 1, "datasources": [{
        "name": "InfluxDB", "uid": DATASOURCE_UID, "type": "influxdb", "access": "proxy", "url": influx_url,
        "isDefault": True, "editable": False,
        "jsonData": {"version": "Flux", "organization": org, "defaultBucket": bucket, "httpMode": "POST"},
        "secureJsonData": {"token": token},
    }]}


def dashboard_providers() -> dict:
    """Grafana's dashboard provisioning: the files in :data:`DASHBOARDS_DIR`, not editable in the UI."""
    return {"apiVersion": 1, "providers": [{
        "name": "tickerwire", "type": "file", "disableDeletion": True, "allowUiUpdates": False,
        "updateIntervalSeconds": 60, "options": {"path": DASHBOARDS_DIR},
    }]}


def provisioning_files(influx_url: str, org: str, bucket: str, metrics_bucket: str) -> dict[str, str]:
    """Container path -> content of every provisioning file Grafana needs."""
    return {
        f"{PROVISIONING}/datasources/tickerwire.yaml": json.dumps(datasources(influx_url, org, bucket), indent=2),
        f"{PROVISIONING}/dashboards/tickerwire.yaml": json.dumps(dashboard_providers(), indent=2),
        f"{DASHBOARDS_DIR}/tickerwire.json": json.dumps(build_dashboard(bucket, metrics_bucket), indent=2),
    }
