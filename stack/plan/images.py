"""The images the project builds, as :class:`~stack.plan.model.ImageBuild` values computed from a source tree.

One Debian base (CA certificates, curl, ``fetch-checked``), one Java runtime on it, and one image
per service on top: Kafka, s3proxy and Flink on the Java image; PostgreSQL and InfluxDB on the
base. Each image's Dockerfile and scripts live in ``resources/docker/<name>/``; its build context is
that directory plus what the image carries from elsewhere (the Flink jobs, the ``backend`` modules
the impact job imports). Everything downloaded is pinned and checked: jars against the checked-in
``*.lock`` files (URL + SHA-256 from Maven Central, ``python -m stack.locks``), wheels with pip's
``--require-hashes``, Go modules against InfluxDB's ``go.sum`` and the Go checksum database.

Nothing here reads the repository: the caller passes a :class:`~stack.plan.model.SourceTree`.
"""

from __future__ import annotations

import ast
import hashlib
import json

from stack.plan.model import ImageBuild, SourceTree
from stack.plan.spec import PlanError, StackSpec
from stack.versions import FLINK_VERSION, INFLUXDB_MODULE, INFLUXDB_VERSION, KAFKA_VERSION, S3PROXY

DOCKER_DIR = "resources/docker"
FLINK_JOB_DIR = "resources/flink"
#: The job that imports the app's own modules; its imports decide which ``backend`` files the image carries.
IMPACT_JOB = f"{FLINK_JOB_DIR}/impact_job.py"
#: Fixed user and group ids of the service users the images create (secret files are owned by them).
SERVICE_UIDS = {"kafka": 1101, "s3proxy": 1102, "postgres": 1103, "influxdb": 1104, "flink": 1105, "collector": 1106}
#: The collector image's code: the backend, the stack's modules and the command line (no Qt: app/'s windows stay out).
COLLECTOR_APP_FILES = ("app/__init__.py", "app/cli.py", "app/stack_mode.py")
#: Where the Flink image keeps the jobs, their jars and the checkpoint volume.
FLINK_HOME_DIR = "/opt/tickerwire"


def image_builds(spec: StackSpec, tree: SourceTree) -> tuple[ImageBuild, ...]:
    """Every image build of the stack, parents before children.

    Raises:
        PlanError: a Dockerfile or another file of a build context is missing, or ``build_args``
            names an image that does not exist.
    """
    unknown = set(spec.build_args) - {"base", "java", "kafka", "s3proxy", "postgres", "influxdb", "flink", "collector"}
    if unknown:
        raise PlanError(f"build_args name unknown images: {', '.join(sorted(unknown))}")
    builder = _Builder(spec, tree)
    base = builder.build("base", "bookworm", None, {"BASE_IMAGE": spec.base_image},
                         extra={"extra-ca.crt": spec.extra_ca_file})
    java = builder.build("java", "17", base)
    flink_args = {"PYFLINK_VERSION": FLINK_VERSION, "JOB_HOME": FLINK_HOME_DIR, "JAVA_RELEASE": "17"}
    return (
        base, java,
        builder.build("kafka", KAFKA_VERSION, java),
        builder.build("s3proxy", S3PROXY.split(":")[2], java),
        builder.build("postgres", "15", base),
        builder.build("influxdb", INFLUXDB_VERSION, base, {"INFLUXDB_VERSION": INFLUXDB_VERSION,
                                                            "INFLUXDB_MODULE": INFLUXDB_MODULE}),
        builder.build("flink", FLINK_VERSION, java, flink_args, extra=flink_job_files(tree)),
    )


def collector_builds(spec: StackSpec, tree: SourceTree) -> tuple[ImageBuild, ImageBuild]:
    """The base image and the collector's on it (``tickerwire stack collector-image``), not part of the stack.

    Raises:
        PlanError: as :func:`image_builds`.
    """
    builder = _Builder(spec, tree)
    base = builder.build("base", "bookworm", None, {"BASE_IMAGE": spec.base_image},
                         extra={"extra-ca.crt": spec.extra_ca_file})
    return base, builder.build("collector", "1", base, extra=collector_files(tree))


def collector_files(tree: SourceTree) -> dict[str, str]:
    """Build-context path -> source path of the collector's code (``src/`` laid out as in the repository)."""
    sources = [p for d in ("backend", "stack") for p in tree.files(d) if p.endswith((".py", ".json"))]
    return {f"src/{path}": path for path in [*sorted(sources), *COLLECTOR_APP_FILES]}


def flink_job_files(tree: SourceTree) -> dict[str, str]:
    """Build-context path -> source path of the Flink jobs, their Java functions and the ``backend``
    modules the impact job imports (laid out as in the repository, so the job finds them two levels up)."""
    sources = [p for p in tree.files(FLINK_JOB_DIR) if p.endswith((".py", ".java"))]
    sources += backend_modules(tree, IMPACT_JOB)
    return {f"job/{path}": path for path in sources}


def backend_modules(tree: SourceTree, entry: str) -> list[str]:
    """The ``backend`` source files ``entry`` imports, directly or through each other, with their packages'
    ``__init__.py`` files (imports inside functions count: the Flink workers run those)."""
    found: set[str] = set()
    pending = [entry]
    while pending:
        path = pending.pop()
        for module in _imported_backend_modules(tree.read(path)):
            for candidate in _module_files(tree, module):
                if candidate not in found:
                    found.add(candidate)
                    pending.append(candidate)
    return sorted(found)


def _imported_backend_modules(source: bytes) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # a submodule, if it is one
    return {name for name in names if name == "backend" or name.startswith("backend.")}


def _module_files(tree: SourceTree, module: str) -> list[str]:
    """The file of ``module`` (if it is a module or package) and the ``__init__.py`` of each package above it."""
    parts = module.split(".")
    out = []
    for i in range(1, len(parts)):
        out.append("/".join(parts[:i]) + "/__init__.py")
    for candidate in ("/".join(parts) + ".py", "/".join(parts) + "/__init__.py"):
        if _exists(tree, candidate):
            return [p for p in out if _exists(tree, p)] + [candidate]
    return []  # a name imported from a module (a function or class), not a module itself


def _exists(tree: SourceTree, path: str) -> bool:
    try:
        tree.read(path)
    except FileNotFoundError:
        return False
    return True


class _Builder:
    """Makes :class:`ImageBuild` values whose tags digest their whole input."""

    def __init__(self, spec: StackSpec, tree: SourceTree) -> None:
        self.spec = spec
        self.tree = tree

    def build(self, name: str, version: str, parent: ImageBuild | None, args: dict[str, str] | None = None,
              extra: dict[str, str] | None = None) -> ImageBuild:
        directory = f"{DOCKER_DIR}/{name}"
        context = {path.removeprefix(directory + "/"): path for path in self.tree.files(directory)}
        if "Dockerfile" not in context:
            raise PlanError(f"{directory}/Dockerfile is missing")
        context.update(extra or {})
        buildargs = dict(args or {})
        if parent is not None:
            buildargs["PARENT_IMAGE"] = parent.tag
        if name in SERVICE_UIDS:
            buildargs["SERVICE_UID"] = str(SERVICE_UIDS[name])
        buildargs.update(self.spec.build_args.get(name, {}))
        digest = hashlib.sha256(json.dumps(sorted(buildargs.items())).encode())
        for archive_path, source in sorted(context.items()):
            digest.update(archive_path.encode() + b"\0")
            try:
                data = self.tree.read(source) if source else b""
            except FileNotFoundError as exc:
                raise PlanError(f"the {name} image needs {source}, which does not exist") from exc
            digest.update(hashlib.sha256(data).digest())
        tag = f"tickerwire/{name}:{version}-{digest.hexdigest()[:12]}"
        return ImageBuild(name, tag, tuple(sorted(context.items())), tuple(sorted(buildargs.items())),
                          parent.name if parent else "")
