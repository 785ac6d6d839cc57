"""The image builds the plan makes from a source tree, and the locks of what they download."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile

import pytest

from stack import locks
from stack.build import build_context
from stack.local.flink import artefacts
from stack.local.kafka import lib_dir
from stack.plan.images import backend_modules, flink_job_files, image_builds
from stack.plan.spec import PlanError, StackSpec
from stack.repo import REPO_ROOT, RepoTree
from stack.versions import FLINK_VERSION, KAFKA_CONNECTOR, KAFKA_TOOLS, S3PROXY

TREE = RepoTree()


class DictTree:
    """A source tree in memory: a copy of the repository's build inputs that a test may change."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.contents = dict(files)

    @classmethod
    def of_repository(cls) -> "DictTree":
        paths = TREE.files("resources/docker") + [p for p in TREE.files("resources/flink")] + TREE.files("backend")
        return cls({path: TREE.read(path) for path in paths})

    def read(self, path: str) -> bytes:
        if path.startswith("/"):
            return TREE.read(path)
        try:
            return self.contents[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    def files(self, prefix: str) -> list[str]:
        return sorted(p for p in self.contents if p.startswith(prefix.rstrip("/") + "/"))


def tags(spec: StackSpec, tree) -> dict[str, str]:
    return {build.name: build.tag for build in image_builds(spec, tree)}


def test_one_base_and_one_java_image_under_the_services():
    builds = {b.name: b for b in image_builds(StackSpec(), TREE)}
    assert {name: b.parent for name, b in builds.items()} == {
        "base": "", "java": "base", "kafka": "java", "s3proxy": "java", "flink": "java", "postgres": "base",
        "influxdb": "base"}
    for name, build in builds.items():
        assert re.fullmatch(rf"tickerwire/{name}:[\w.]+-[0-9a-f]{{12}}", build.tag), build.tag
        args = dict(build.buildargs)
        if build.parent:
            assert args["PARENT_IMAGE"] == builds[build.parent].tag
    assert dict(builds["base"].buildargs)["BASE_IMAGE"] == "debian:bookworm-slim"
    assert dict(builds["flink"].buildargs)["PYFLINK_VERSION"] == FLINK_VERSION


def test_a_changed_input_rebuilds_that_image_and_its_children_and_nothing_else():
    tree = DictTree.of_repository()
    before = tags(StackSpec(), tree)
    assert tags(StackSpec(), tree) == before  # an unchanged tree reuses every image
    tree.contents["resources/docker/java/Dockerfile"] += b"\n# changed\n"
    after = tags(StackSpec(), tree)
    assert {name for name in before if before[name] != after[name]} == {"java", "kafka", "s3proxy", "flink"}
    tree.contents["backend/signals/impact.py"] += b"\n# changed\n"  # the impact job imports it
    assert tags(StackSpec(), tree)["flink"] != after["flink"]
    tree.contents["backend/stores/sqlite.py"] += b"\n# changed\n"  # no job imports it
    assert tags(StackSpec(), tree) == tags(StackSpec(), tree)
    changed = tags(StackSpec(base_image="local/debian:bookworm"), tree)
    assert all(changed[name] != value for name, value in tags(StackSpec(), tree).items())


def test_the_extra_ca_and_build_args_are_inputs_of_the_image_digests(tmp_path):
    ca = tmp_path / "proxy-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    plain, with_ca = tags(StackSpec(), TREE), tags(StackSpec(extra_ca_file=str(ca)), TREE)
    assert all(plain[name] != with_ca[name] for name in plain)
    base = image_builds(StackSpec(extra_ca_file=str(ca)), TREE)[0]
    assert dict(base.context)["extra-ca.crt"] == str(ca)
    assert dict(image_builds(StackSpec(), TREE)[0].context)["extra-ca.crt"] == ""  # an empty file
    overridden = tags(StackSpec(build_args={"flink": {"JAVA_RELEASE": "21"}}), TREE)
    assert {name for name in plain if plain[name] != overridden[name]} == {"flink"}


def test_a_missing_build_input_is_refused_with_its_name():
    tree = DictTree.of_repository()
    del tree.contents["resources/docker/kafka/Dockerfile"]
    with pytest.raises(PlanError, match="resources/docker/kafka/Dockerfile is missing"):
        image_builds(StackSpec(), tree)


def test_the_flink_image_carries_the_jobs_and_exactly_the_backend_modules_the_impact_job_imports():
    files = flink_job_files(TREE)
    assert {"job/resources/flink/candles_job.py", "job/resources/flink/impact_job.py",
            "job/resources/flink/job_options.py"} <= set(files)
    assert any(p.startswith("job/resources/flink/udf/") and p.endswith(".java") for p in files)
    modules = backend_modules(TREE, "resources/flink/impact_job.py")
    assert {"backend/__init__.py", "backend/bus/__init__.py", "backend/bus/schema.py", "backend/model.py",
            "backend/signals/impact.py", "backend/signals/impact_stream.py"} <= set(modules)
    assert not [m for m in modules if m.startswith(("backend/stores", "backend/sources")) or m.endswith("kafka.py")]
    for module in modules:  # closed: everything a shipped module imports from backend is shipped too
        assert set(backend_modules(TREE, module)) <= set(modules)


def test_every_copy_of_every_dockerfile_has_its_source_in_the_build_context():
    for build in image_builds(StackSpec(), TREE):
        names = {path for path, _ in build.context}
        dockerfile = TREE.read(dict(build.context)["Dockerfile"]).decode()
        for line in dockerfile.replace("\\\n", " ").splitlines():
            if line.startswith(("COPY ", "ADD ")) and "--from=" not in line:
                for source in line.split()[1:-1]:
                    assert any(n == source or n.startswith(source.rstrip("/") + "/") for n in names), \
                        (build.name, source)


def test_the_build_context_holds_every_file_with_scripts_executable():
    build = next(b for b in image_builds(StackSpec(), TREE) if b.name == "kafka")
    with tarfile.open(fileobj=io.BytesIO(build_context(build, TREE))) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert set(members) == {path for path, _ in build.context}
    assert members["entrypoint.sh"].mode == 0o755 and members["Dockerfile"].mode == 0o644
    assert members["jars.lock"].mtime == 0


# --- locks ------------------------------------------------------------------------------------------------------


def _lock_lines(image: str) -> list[tuple[str, str]]:
    text = (REPO_ROOT / "resources" / "docker" / image / "jars.lock").read_text()
    return [tuple(line.split()[:2]) for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("image", sorted(locks.jar_locks()))
def test_each_jar_lock_was_made_from_the_pinned_versions(image):
    transitive, alone = locks.jar_locks()[image]
    lock = REPO_ROOT / "resources" / "docker" / image / "jars.lock"
    assert locks.read_inputs(lock) == locks.inputs_line(transitive, alone), \
        f"{lock} is stale: run `python -m stack.locks {image}`"
    for sha, url in _lock_lines(image):
        assert re.fullmatch(r"[0-9a-f]{64}", sha) and url.startswith("https://repo.maven.apache.org/maven2/")


def test_the_pip_lock_pins_apache_flink_and_hashes_every_package():
    lock = REPO_ROOT / "resources" / "docker" / "flink" / "requirements.lock"
    assert locks.read_inputs(lock) == locks.pip_inputs_line()
    lines = [line for line in lock.read_text().splitlines() if line and not line.startswith("#")]
    assert f"apache-flink=={FLINK_VERSION} " in "\n".join(lines) + " "
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.\-+!]+ --hash=sha256:[0-9a-f]{64}", line) for line in lines)


def test_the_kafka_lock_is_the_jar_set_maven_resolved_for_the_local_broker_plus_the_tools():
    """The prepare step (run by CI) resolves the same broker through Maven, which checks Central's checksums."""
    local = {jar.name: hashlib.sha256(jar.read_bytes()).hexdigest() for jar in lib_dir().glob("*.jar")}
    locked = {url.rsplit("/", 1)[1]: sha for sha, url in _lock_lines("kafka")}
    tools = "{1}-{2}.jar".format(*KAFKA_TOOLS.split(":"))
    assert set(locked) - set(local) == {tools}
    assert {name: locked[name] for name in local} == local


def test_the_connector_lock_matches_the_jar_maven_resolved_for_the_local_flink():
    connector = next(j for j in artefacts().jars if "flink-sql-connector-kafka" in j.name)
    ((sha, url),) = _lock_lines("flink")
    assert url.endswith("/{1}-{2}.jar".format(*KAFKA_CONNECTOR.split(":")))
    assert sha == hashlib.sha256(connector.read_bytes()).hexdigest()
    ((_, s3_url),) = _lock_lines("s3proxy")
    assert s3_url.endswith("/s3proxy-{2}-jar-with-dependencies.jar".format(*S3PROXY.split(":")))
