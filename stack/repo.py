"""The repository on disk as a :class:`~stack.plan.model.SourceTree`, for planning image builds.

The plan never reads files itself; :class:`RepoTree` is what the Docker backend hands it (tests
hand it a dictionary). An absolute path reads a file outside the repository (the extra CA file).
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


class RepoTree:
    """Files under ``root`` (default: this checkout)."""

    def __init__(self, root: Path = REPO_ROOT) -> None:
        self.root = Path(root)

    def read(self, path: str) -> bytes:
        """The bytes of a repository-relative (or absolute) path; FileNotFoundError when missing."""
        target = Path(path) if Path(path).is_absolute() else self.root / path
        if not target.is_file():
            raise FileNotFoundError(f"no file {target}")
        return target.read_bytes()

    def files(self, prefix: str) -> list[str]:
        """Repository-relative paths of the files under ``prefix`` (no caches), sorted."""
        base = self.root / prefix
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc"))
