"""The local Flink runner and the prepare CLI: missing artefacts are reported with the command that makes them."""

from __future__ import annotations

import pytest

from stack.local import PrepareMissing
from stack.local.__main__ import COMPONENTS, main
from stack.local.flink import FlinkJob, artefacts
from stack.local.maven import _marker_text


def test_missing_flink_artefacts_name_the_prepare_command(tmp_path):
    with pytest.raises(PrepareMissing, match=r"python -m stack\.local prepare flink") as caught:
        artefacts(tmp_path / "empty-cache")
    assert "Flink venv" in str(caught.value) and "connector" in str(caught.value)


def test_job_command_fails_before_starting_anything_when_unprepared(tmp_path):
    job = FlinkJob("127.0.0.1:1", tmp_path / "job.log", cache=tmp_path / "empty-cache")
    with pytest.raises(PrepareMissing):
        job.start()
    assert not job.running


def test_cli_dispatches_to_component_modules_and_rejects_unknown_names(capsys):
    assert {"kafka", "flink", "influxdb"} <= COMPONENTS.keys()
    with pytest.raises(SystemExit) as caught:
        main(["prepare", "zookeeper"])
    assert caught.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_maven_marker_changes_with_coordinates_so_a_new_version_is_resolved_again():
    a = _marker_text(["org.apache.kafka:kafka_2.13:4.1.1"], True)
    assert a == _marker_text(["org.apache.kafka:kafka_2.13:4.1.1"], True)
    assert a != _marker_text(["org.apache.kafka:kafka_2.13:4.1.2"], True)
    assert a != _marker_text(["org.apache.kafka:kafka_2.13:4.1.1"], False)
