"""Load and run SD3 Medium and FLUX.1-schnell (GGUF), staged and measured: `load_pipeline`, `generate`."""

from lib.pipelines.loading import LoadedPipeline, load_pipeline
from lib.pipelines.stages import STAGES, GenerationResult, StageRecord, generate, generate_many

__all__ = ["LoadedPipeline", "load_pipeline", "GenerationResult", "StageRecord", "STAGES", "generate", "generate_many"]
