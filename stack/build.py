"""Builds the stack's images on the engine, and pulls the one it cannot build (Grafana).

:class:`ImageBuilder` turns an :class:`~stack.plan.model.ImageBuild` into an image: it skips one
whose tag exists (the tag digests every input), otherwise sends the build context read from the
source tree to the engine's classic builder and reports each ``Step n/m`` as progress. A failed
build raises :class:`~stack.types.BuildFailed` naming the image, the step that failed and the end of
its output. A missing base image is pulled first, and when that fails too the message says how to
make a local one. :meth:`ImageBuilder.pull` pulls a pinned image with byte progress.
"""

from __future__ import annotations

import io
import re
import tarfile
import threading
from typing import Iterable

import docker.errors
import requests.exceptions

from stack.engine import explain
from stack.plan.model import ImageBuild, SourceTree
from stack.types import BuildFailed, Progress, ProgressCallback, PullFailed, StartCancelled

#: Label on every image the project builds (value: the image's short name).
IMAGE_LABEL = "io.tickerwire.image"
_STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
#: Lines of build output kept for a failure message.
TAIL_LINES = 25


def build_context(build: ImageBuild, tree: SourceTree) -> bytes:
    """The build context as an uncompressed tar: fixed times and owners; scripts (``#!``) executable."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for archive_path, source in build.context:
            data = tree.read(source) if source else b""
            info = tarfile.TarInfo(archive_path)
            info.size, info.mtime = len(data), 0
            info.mode = 0o755 if data.startswith(b"#!") else 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _cancelled() -> StartCancelled:
    return StartCancelled("the start was cancelled; everything it had created was removed")


class ImageBuilder:
    """Builds and pulls images on one engine.

    Args:
        client: A connected docker-py client.
        tree: Where build contexts are read from.
        base_image: The Debian image the base build starts FROM (pulled if absent).
    """

    def __init__(self, client, tree: SourceTree, base_image: str) -> None:
        self.client = client
        self.tree = tree
        self.base_image = base_image

    def exists(self, ref: str) -> bool:
        """True when the engine has image ``ref``."""
        try:
            self.client.images.get(ref)
            return True
        except docker.errors.ImageNotFound:
            return False

    def ensure(self, build: ImageBuild, progress: ProgressCallback, cancel: threading.Event) -> bool:
        """Build ``build`` unless its tag exists; return True when it was built now.

        Raises:
            BuildFailed: the build (or the base image's pull) failed.
            StartCancelled: ``cancel`` was set while building.
        """
        if self.exists(build.tag):
            progress(Progress("build", build.name, f"image {build.tag} is already built"))
            return False
        if not build.parent and not self.exists(self.base_image):
            self._pull_base(progress, cancel)
        progress(Progress("build", build.name, f"building image {build.tag}"))
        tail: list[str] = []
        step = ("", 0, 0)
        try:
            stream = self.client.api.build(
                fileobj=io.BytesIO(build_context(build, self.tree)), custom_context=True, tag=build.tag,
                buildargs=dict(build.buildargs), rm=True, forcerm=True, decode=True, pull=False,
                labels={IMAGE_LABEL: build.name})
            try:
                for event in stream:
                    if cancel.is_set():
                        raise _cancelled()
                    if "error" in event:
                        raise BuildFailed(self._failure(build, step, event["error"], tail))
                    text = _ANSI_RE.sub("", event.get("stream") or event.get("status") or "")
                    for line in text.splitlines():
                        line = line.rstrip()
                        if not line:
                            continue
                        tail = (tail + [line])[-TAIL_LINES:]
                        match = _STEP_RE.match(line)
                        if match:
                            step = (match.group(3), int(match.group(1)), int(match.group(2)))
                            progress(Progress("build", build.name, f"{build.name}: step {step[1]}/{step[2]}: "
                                                                    f"{step[0][:160]}", step[1], step[2]))
                        else:
                            progress(Progress("build", build.name, f"{build.name}: {line[:300]}"))
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # a cancelled build: closing the connection stops the engine's builder
        except docker.errors.APIError as exc:
            raise BuildFailed(self._failure(build, step, explain(exc), tail)) from exc
        except requests.exceptions.RequestException as exc:
            raise BuildFailed(self._failure(build, step, f"the connection to Docker broke ({exc})", tail)) from exc
        if not self.exists(build.tag):
            raise BuildFailed(self._failure(build, step, "the build ended without an image", tail))
        progress(Progress("build", build.name, f"built image {build.tag}", step[2] or None, step[2] or None))
        return True

    @staticmethod
    def _failure(build: ImageBuild, step: tuple[str, int, int], error: str, tail: Iterable[str]) -> str:
        where = f"at step {step[1]}/{step[2]} ({step[0][:200]})" if step[1] else "before its first step"
        output = "\n".join(tail)
        return (f"building the {build.name} image ({build.tag}) failed {where}: {error.strip()}\n"
                f"The end of the build's output:\n{output}")

    def _pull_base(self, progress: ProgressCallback, cancel: threading.Event) -> None:
        try:
            self.pull(self.base_image, progress, cancel)
        except PullFailed as exc:
            raise BuildFailed(
                f"the base image {self.base_image} is not on this engine and could not be pulled ({exc}). Where "
                "no image registry is reachable, make a local Debian bookworm image (`.ci/docker-engine start` "
                "imports one as local/debian:bookworm from a debootstrap) and set TICKERWIRE_BASE_IMAGE to it "
                "(or `tickerwire stack up --base-image`).") from exc

    def pull(self, ref: str, progress: ProgressCallback, cancel: threading.Event) -> None:
        """Pull ``ref`` with byte progress (nothing when present).

        Raises:
            PullFailed: the registry refused, the network failed, or the image did not arrive.
            StartCancelled: ``cancel`` was set while pulling.
        """
        if self.exists(ref):
            progress(Progress("pull", ref, f"{ref} is already present", 1, 1))
            return
        repository, _, tag = ref.rpartition(":")
        layers: dict[str, tuple[int, int]] = {}
        progress(Progress("pull", ref, f"pulling {ref}", 0, None))
        total = 0
        try:
            for event in self.client.api.pull(repository, tag=tag, stream=True, decode=True):
                if cancel.is_set():
                    raise _cancelled()
                if "error" in event:
                    raise PullFailed(f"pulling {ref} failed: {event['error']}")
                layer, status = event.get("id", ""), event.get("status", "")
                detail = event.get("progressDetail") or {}
                if status == "Downloading" and detail.get("total"):
                    layers[layer] = (int(detail.get("current", 0)), int(detail["total"]))
                elif status in ("Download complete", "Pull complete") and layer in layers:
                    layers[layer] = (layers[layer][1], layers[layer][1])
                current = sum(done for done, _ in layers.values())
                total = sum(size for _, size in layers.values())
                progress(Progress("pull", ref, f"{ref}: {layer + ' ' if layer else ''}{status}".strip(),
                                  current, total or None))
        except docker.errors.APIError as exc:
            raise PullFailed(f"pulling {ref} failed: {explain(exc)}") from exc
        except requests.exceptions.RequestException as exc:
            raise PullFailed(f"pulling {ref} failed: the connection to Docker broke ({exc})") from exc
        if not self.exists(ref):
            raise PullFailed(f"pulling {ref} ended but the image is not there")
        progress(Progress("pull", ref, f"pulled {ref}", total or 1, total or 1))
