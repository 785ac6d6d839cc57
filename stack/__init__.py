"""Brings the infrastructure up and down: the Docker stack (docker-py) and the local-process stack.

Layers, bottom up: :mod:`stack.types` (the vocabulary and the backend interface, standard library
only) and :mod:`stack.versions` (every pin); :mod:`stack.plan` (the pure plan: spec, model, image
builds, one module per service); :mod:`stack.engine`, :mod:`stack.build` and :mod:`stack.apply`
(carrying a plan out on an engine), :mod:`stack.credentials`, :mod:`stack.supervisor`; the backends
:mod:`stack.docker_backend` and :mod:`stack.local.backend`; :mod:`stack.cli` (``tickerwire stack``)
and :mod:`stack.access` (a running stack for the pipeline). Nothing here imports Qt or ``app``.
"""
