"""Regenerates the checked-in locks of everything the images download: ``python -m stack.locks``.

* ``resources/docker/<image>/jars.lock``: one ``<sha256> <url>`` line per jar, resolved from Maven
  Central with ``mvn --strict-checksums`` (Maven refuses a jar whose Central checksum differs) and
  hashed here. The images' ``fetch-checked`` downloads exactly these URLs and checks each hash.
* ``resources/docker/flink/requirements.lock``: apache-flink and every dependency pinned with its
  SHA-256 (from pip's resolution report, local wheel directories ignored), for
  ``pip install --require-hashes``. setuptools and wheel are in it too: the four sdists among the
  dependencies are built without build isolation, so nothing unhashed is downloaded.
* ``resources/docker/collector/requirements.lock``: the same for the collector image — the project's
  dependencies from ``pyproject.toml`` without the desktop's (Qt, plots) plus the stack's clients
  (Kafka, InfluxDB, the Iceberg archive on PostgreSQL + S3).

Each lock starts with a ``# inputs:`` line naming what it was resolved from; ``tests/stack`` fails
when :mod:`stack.versions` no longer matches it. A developer tool: needs ``mvn``, pip and the network.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

from stack.repo import REPO_ROOT
from stack.versions import FLINK_VERSION, KAFKA_ARTIFACTS, KAFKA_CONNECTOR, KAFKA_TOOLS, MAVEN_CENTRAL, S3PROXY

DOCKER_DIR = REPO_ROOT / "resources" / "docker"
#: Build tools the Flink lock adds so that sdists build from hashed inputs only, and async-timeout, which
#: redis needs on Python < 3.11.3 (Debian bookworm's 3.11.2) and a resolution on a newer 3.11 leaves out.
PIP_BUILD_TOOLS = ("setuptools", "wheel", "async-timeout")


def jar_locks() -> dict[str, tuple[list[str], list[str]]]:
    """Image name -> (coordinates resolved with their dependencies, coordinates taken alone)."""
    return {
        "kafka": (list(KAFKA_ARTIFACTS), [KAFKA_TOOLS]),
        "s3proxy": ([], [S3PROXY]),
        "flink": ([], [KAFKA_CONNECTOR]),
    }


def inputs_line(transitive: list[str], alone: list[str]) -> str:
    """The ``# inputs:`` header of a jar lock."""
    return "# inputs: " + " ".join([*(f"{c}+deps" for c in transitive), *alone])


#: The desktop's own dependencies (and those of bringing a stack up), which the collector image leaves out.
DESKTOP_ONLY = ("PySide6", "pyqtgraph", "qasync", "docker", "grafana-foundation-sdk")


def collector_requirements() -> list[str]:
    """The collector's requirements: ``pyproject.toml``'s dependencies but the desktop's."""
    import re
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    name = re.compile(r"^[A-Za-z0-9_.-]+")
    # The stack's clients are base dependencies; the archive's catalog is PostgreSQL (no SQLite catalog).
    return [d.replace("sql-sqlite,", "") for d in project["dependencies"] if name.match(d).group(0) not in DESKTOP_ONLY]


def pip_requirements(image: str = "flink") -> list[str]:
    """What an image's requirements lock is resolved from."""
    if image == "collector":
        return collector_requirements()
    return [f"apache-flink=={FLINK_VERSION}", *PIP_BUILD_TOOLS]


def pip_inputs_line(image: str = "flink") -> str:
    """The ``# inputs:`` header of an image's requirements lock."""
    requirements = pip_requirements(image)
    return f"# inputs: {requirements[0]} python{sys.version_info.major}.{sys.version_info.minor} " + \
        " ".join(requirements[1:])


def read_inputs(lock: Path) -> str:
    """A lock's ``# inputs:`` line ('' when the file or the line is missing)."""
    try:
        return next((line for line in lock.read_text().splitlines() if line.startswith("# inputs:")), "")
    except FileNotFoundError:
        return ""


def _pom(coordinates: list[str]) -> str:
    deps = []
    for coordinate in coordinates:
        group, artifact, version = coordinate.split(":")[:3]
        deps.append(f"<dependency><groupId>{escape(group)}</groupId><artifactId>{escape(artifact)}</artifactId>"
                    f"<version>{escape(version)}</version></dependency>")
    return ('<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
            "<groupId>tickerwire.locks</groupId><artifactId>resolve</artifactId><version>1</version>"
            f"<packaging>pom</packaging><dependencies>{''.join(deps)}</dependencies></project>")


def _mvn(args: list[str], cwd: Path) -> None:
    result = subprocess.run(["mvn", "-B", "-q", "--strict-checksums", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"mvn {' '.join(args[:2])} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def resolve_jars(transitive: list[str], alone: list[str]) -> list[tuple[str, str]]:
    """(sha256, Central URL) of every jar, sorted by URL."""
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        out = root / "repo"
        if transitive:
            (root / "pom.xml").write_text(_pom(transitive))
            _mvn(["dependency:copy-dependencies", f"-DoutputDirectory={out}", "-DincludeScope=runtime",
                  "-Dmdep.useRepositoryLayout=true"], root)
        lines = []
        for jar in sorted(out.rglob("*.jar")):
            url = f"{MAVEN_CENTRAL}/{jar.relative_to(out).as_posix()}"
            lines.append((hashlib.sha256(jar.read_bytes()).hexdigest(), url))
        single = root / "single"
        for coordinate in alone:  # dependency:copy has no repository layout: the URL follows from the coordinate
            group, artifact, version, *classifier = coordinate.split(":")
            name = f"{artifact}-{version}" + (f"-{classifier[0]}" if classifier else "") + ".jar"
            artifact_arg = f"{group}:{artifact}:{version}:jar" + (f":{classifier[0]}" if classifier else "")
            _mvn(["dependency:copy", f"-Dartifact={artifact_arg}", f"-DoutputDirectory={single}"], root)
            url = f"{MAVEN_CENTRAL}/{group.replace('.', '/')}/{artifact}/{version}/{name}"
            lines.append((hashlib.sha256((single / name).read_bytes()).hexdigest(), url))
        return sorted(lines, key=lambda line: line[1])


def write_jar_lock(image: str) -> Path:
    """Resolve and write ``resources/docker/<image>/jars.lock``."""
    transitive, alone = jar_locks()[image]
    lines = resolve_jars(transitive, alone)
    lock = DOCKER_DIR / image / "jars.lock"
    lock.write_text("# Generated by `python -m stack.locks` from Maven Central (mvn --strict-checksums); do not edit.\n"
                    f"{inputs_line(transitive, alone)}\n" + "".join(f"{sha} {url}\n" for sha, url in lines))
    return lock


def write_pip_lock(image: str = "flink") -> Path:
    """Resolve an image's requirements (:func:`pip_requirements`) with pip and write its hashed requirements lock."""
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "report.json"
        env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_NO_INDEX")}
        binary = ["--only-binary", ":all:"] if image == "collector" else []  # the collector image compiles nothing
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
                   "--no-cache-dir", "--report", str(report), *binary, *pip_requirements(image)]
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            sys.exit(f"pip could not resolve the {image} image's requirements:\n{result.stderr[-3000:]}")
        installs = json.loads(report.read_text())["install"]
    lines = []
    for item in sorted(installs, key=lambda i: i["metadata"]["name"].lower()):
        sha = item["download_info"]["archive_info"]["hashes"]["sha256"]
        lines.append(f"{item['metadata']['name']}=={item['metadata']['version']} --hash=sha256:{sha}\n")
    lock = DOCKER_DIR / image / "requirements.lock"
    lock.write_text("# Generated by `python -m stack.locks` (pip's resolution on PyPI, one wheel or sdist per "
                    "package, for x86_64 Linux, CPython 3.11 as in Debian bookworm); do not edit.\n"
                    f"{pip_inputs_line(image)}\n" + "".join(lines))
    return lock


def main(argv: list[str] | None = None) -> int:
    """Regenerate the locks named on the command line (default: all)."""
    parser = argparse.ArgumentParser(prog="python -m stack.locks", description=__doc__.splitlines()[0])
    names = [*jar_locks(), "pip", "collector"]
    parser.add_argument("locks", nargs="*", metavar="LOCK", help=f"which locks: {', '.join(names)} (default: all)")
    args = parser.parse_args(argv)
    unknown = set(args.locks) - set(names)
    if unknown:
        parser.error(f"unknown locks: {', '.join(sorted(unknown))} (choose from {', '.join(names)})")
    for name in args.locks or names:
        if name in ("pip", "collector"):
            path = write_pip_lock("flink" if name == "pip" else name)
        else:
            path = write_jar_lock(name)
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
