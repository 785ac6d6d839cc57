"""Resolve jars from Maven Central into a local directory with the ``mvn`` client.

Used by the Kafka and Flink prepare steps. Resolution is idempotent: a directory
that holds a ``.complete`` marker listing the same coordinates is reused as is.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

MARKER = ".complete"


class MavenError(RuntimeError):
    """``mvn`` is missing or could not resolve the requested artefacts."""


def _mvn() -> str:
    path = shutil.which("mvn")
    if path is None:
        raise MavenError("Maven (mvn) is not installed; install it (apt-get install maven) and retry")
    return path


def _pom(coordinates: list[str]) -> str:
    deps = []
    for coordinate in coordinates:
        group, artifact, version = coordinate.split(":")
        deps.append(
            f"<dependency><groupId>{escape(group)}</groupId><artifactId>{escape(artifact)}</artifactId>"
            f"<version>{escape(version)}</version></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>tickerwire.local</groupId><artifactId>resolve</artifactId><version>1</version>"
        f"<packaging>pom</packaging><dependencies>{''.join(deps)}</dependencies></project>"
    )


def _is_complete(dest: Path, coordinates: list[str], transitive: bool) -> bool:
    marker = dest / MARKER
    return marker.is_file() and marker.read_text() == _marker_text(coordinates, transitive)


def _marker_text(coordinates: list[str], transitive: bool) -> str:
    return f"transitive={transitive}\n" + "\n".join(sorted(coordinates)) + "\n"


def resolve(coordinates: list[str], dest: Path, *, transitive: bool = True) -> list[Path]:
    """Copy the jars of ``coordinates`` (``group:artifact:version``) into ``dest``.

    Args:
        coordinates: Maven coordinates to resolve.
        dest: Directory that receives the jars; replaced on a fresh resolution.
        transitive: Also copy the runtime dependencies of each coordinate.

    Returns:
        The jar paths in ``dest``, sorted.

    Raises:
        MavenError: ``mvn`` is missing or failed; the message carries its output tail.
    """
    if _is_complete(dest, coordinates, transitive):
        return sorted(dest.glob("*.jar"))
    staging = Path(tempfile.mkdtemp(prefix="resolve-", dir=dest.parent if dest.parent.exists() else None))
    try:
        jars = staging / "jars"
        if transitive:
            (staging / "pom.xml").write_text(_pom(coordinates))
            command = [_mvn(), "-B", "-q", "-f", str(staging / "pom.xml"), "dependency:copy-dependencies",
                       f"-DoutputDirectory={jars}", "-DincludeScope=runtime"]
            _run(command)
        else:
            for coordinate in coordinates:
                _run([_mvn(), "-B", "-q", "dependency:copy", f"-Dartifact={coordinate}",
                      f"-DoutputDirectory={jars}"], cwd=staging)
        (jars / MARKER).write_text(_marker_text(coordinates, transitive))
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        jars.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(dest.glob("*.jar"))


def _run(command: list[str], cwd: Path | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        raise MavenError(f"{' '.join(command[:6])} ... failed (exit {result.returncode}):\n{tail}")
