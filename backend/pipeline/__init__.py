"""The pipeline the app uses: one core for both modes, two processors, one builder.

* :mod:`backend.pipeline.contract` — the facade (:class:`Pipeline`) and the parts it is made of.
* :mod:`backend.pipeline.core` — :class:`PipelineCore`, the one implementation of the facade.
* :mod:`backend.pipeline.embedded` / :mod:`backend.pipeline.stack` — the two processors.
* :mod:`backend.pipeline.runtime` — :func:`build`, the one place a pipeline is assembled.
"""

from backend.pipeline.contract import Pipeline, SourceFactory
from backend.pipeline.core import PipelineCore
from backend.pipeline.updates import HISTORY_LIMIT, CandleSeries, PipelineUpdate

__all__ = ["HISTORY_LIMIT", "CandleSeries", "Pipeline", "PipelineCore", "PipelineUpdate", "SourceFactory"]
