"""Graph passes. Each pass has a name; the IR can be printed after any of them."""

from hetflow.passes.calibrate import Statistics, TensorStats, collect_statistics
from hetflow.passes.manager import PASSES, graph_pass, run_passes
from hetflow.passes.pipeline import ANALYSIS_PIPELINE, COMPILE_PIPELINE, IMPORT_PIPELINE, run_pipeline
from hetflow.passes.regions import UnitSummary, form_regions, render_summary, summarize

__all__ = [
    "ANALYSIS_PIPELINE", "COMPILE_PIPELINE", "IMPORT_PIPELINE", "PASSES", "Statistics", "TensorStats", "UnitSummary",
    "collect_statistics", "form_regions", "graph_pass", "render_summary", "run_passes", "run_pipeline", "summarize",
]
