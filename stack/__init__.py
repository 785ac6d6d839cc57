"""Brings the infrastructure up and down: a Docker SDK backend and a local-process backend.

Pure ``plan`` plus effectful ``apply``. Nothing here imports Qt or ``app``.
"""
