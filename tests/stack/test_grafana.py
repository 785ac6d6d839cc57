"""Generated Grafana provisioning, validated against Grafana 11.6's dashboard JSON schema.

The schemas in ``grafana_schema/`` come from grafana-foundation-sdk (see its README): the dashboard
is validated with ``jsonschema`` as a whole, and each panel's ``options`` and
``fieldConfig.defaults.custom`` against its panel type's schema. One documented deviation: the
v1 schema types an annotation's ``target`` as the built-in Grafana annotation target (tags,
limit…) — Grafana's CUE marks it "TODO: this should be a regular DataQuery" — while a datasource
annotation (our Flux news query) carries ``refId`` and ``query`` there; the test allows exactly
those two keys and nothing else.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from stack.grafana import (
    CONSUMER_LAG, DASHBOARD_UID, DATASOURCE_UID, FLINK_RECORDS_IN, INFLUX_REQUESTS, build_dashboard, datasources,
    metrics_task_flux, provisioning_files,
)

SCHEMAS = Path(__file__).parent / "grafana_schema"


def load_schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.jsonschema.json").read_text())


def dashboard_schema() -> dict:
    schema = load_schema("dashboard")
    target = schema["definitions"]["AnnotationTarget"]
    assert target["additionalProperties"] is False  # the deviation below is needed, and only this one
    target["properties"].update({"refId": {"type": "string"}, "query": {"type": "string"}})
    target["required"] = []
    return schema


def panel_schema(panel_type: str, definition: str) -> dict:
    schema = load_schema(panel_type)
    return {**schema, "$ref": f"#/definitions/{definition}"}


@pytest.fixture(scope="module")
def board():
    return build_dashboard("market", "pipeline")


def all_panels(board: dict) -> list[dict]:
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def test_dashboard_validates_against_grafanas_schema(board):
    jsonschema.Draft7Validator(dashboard_schema()).validate(board)


def test_each_panel_validates_against_its_panel_type_schema(board):
    checked = set()
    for panel in all_panels(board):
        if panel["type"] == "row":
            continue
        validator = jsonschema.Draft7Validator(panel_schema(panel["type"], "Options"))
        validator.validate(panel["options"])
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if custom is not None and "FieldConfig" in load_schema(panel["type"])["definitions"]:
            jsonschema.Draft7Validator(panel_schema(panel["type"], "FieldConfig")).validate(custom)
        checked.add(panel["type"])
    assert checked == {"candlestick", "timeseries", "stat"}


def test_the_validation_can_fail(board):
    """The schema is strict enough to catch real mistakes (a misspelt key, a wrong type)."""
    broken = copy.deepcopy(board)
    broken["panels"][1]["gridPoss"] = broken["panels"][1].pop("gridPos")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(dashboard_schema()).validate(broken)
    broken = copy.deepcopy(board)
    broken["refresh"] = 10
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(dashboard_schema()).validate(broken)
    candles = next(p for p in broken["panels"] if p["type"] == "candlestick")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(panel_schema("candlestick", "Options")).validate(
            {**candles["options"], "mode": "candles+sparkles"})


def test_candles_repeat_per_symbol_with_volume_and_news_annotations(board):
    assert board["uid"] == DASHBOARD_UID and board["editable"] is False
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["symbol"]["multi"] and variables["symbol"]["includeAll"]
    assert "schema.tagValues" in variables["symbol"]["query"]
    candles = next(p for p in all_panels(board) if p["type"] == "candlestick")
    assert candles["repeat"] == "symbol"
    assert candles["options"]["fields"] == {"open": "open", "high": "high", "low": "low", "close": "close",
                                            "volume": "volume"}
    query = candles["targets"][0]["query"]
    assert 'r._measurement == "candles"' in query and 'r.symbol == "${symbol}"' in query and "pivot(" in query
    volume = next(p for p in all_panels(board) if p["title"] == "Volume")
    assert volume["fieldConfig"]["defaults"]["custom"]["drawStyle"] == "bars"
    news = board["annotations"]["list"][0]
    assert news["name"] == "News" and news["enable"] is True
    assert 'r._measurement == "news"' in news["target"]["query"]
    assert {p["datasource"]["uid"] for p in all_panels(board) if p["type"] != "row"} == {DATASOURCE_UID}


def test_pipeline_health_panels_read_the_scraped_metrics(board):
    titles = {p["title"]: p for p in all_panels(board)}
    assert CONSUMER_LAG in titles["Kafka consumer lag (records not yet read by Flink)"]["targets"][0]["query"]
    assert FLINK_RECORDS_IN in titles["Flink throughput"]["targets"][0]["query"]
    errors = titles["InfluxDB write errors"]["targets"][0]["query"]
    assert INFLUX_REQUESTS in errors and '"/api/v2/write"' in errors and 'r.status != "2XX"' in errors
    for name in ("Kafka consumer lag (records not yet read by Flink)", "Flink throughput", "InfluxDB write errors"):
        assert 'from(bucket: "pipeline")' in titles[name]["targets"][0]["query"]
    task = metrics_task_flux("pipeline", "http://flink:9249/metrics", "scrape-flink")
    assert 'import "experimental/prometheus"' in task and 'prometheus.scrape(url: "http://flink:9249/metrics")' in task
    assert 'option task = {name: "scrape-flink", every: 10s}' in task


def test_panels_do_not_overlap(board):
    cells = set()
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel.get('title')} overlaps another panel"
                cells.add((x, y))


def test_datasource_is_flux_with_the_token_from_the_environment():
    config = datasources("http://tickerwire-influxdb:8086", "acme", "ticks")
    source = config["datasources"][0]
    assert source["type"] == "influxdb" and source["uid"] == DATASOURCE_UID
    assert source["jsonData"] == {"version": "Flux", "organization": "acme", "defaultBucket": "ticks",
                                  "httpMode": "POST"}
    assert source["secureJsonData"] == {"token": "$INFLUX_TOKEN"}


def test_provisioning_files_are_json_grafana_reads_as_yaml():
    files = provisioning_files("http://influx:8086", "acme", "ticks", "health")
    for path, content in files.items():
        json.loads(content)  # JSON is YAML: Grafana's YAML reader parses these files
    providers = json.loads(files["/etc/grafana/provisioning/dashboards/tickerwire.yaml"])["providers"][0]
    assert providers["options"]["path"] == "/etc/grafana/dashboards" and providers["allowUiUpdates"] is False
    dashboard = json.loads(files["/etc/grafana/dashboards/tickerwire.json"])
    queries = " ".join(t["query"] for p in all_panels(dashboard) for t in p.get("targets", []))
    assert 'from(bucket: "health")' in queries and 'from(bucket: "ticks")' in queries
