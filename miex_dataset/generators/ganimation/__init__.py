"""GANimation (Pumarola et al., ECCV 2018): model, checkpoint layouts, inference pipeline; training in ``.train``."""

from .checkpoints import load_critic_weights, load_generator_weights, to_native
from .model import GANimationCritic, GANimationGenerator, animate, count_parameters
from .pipeline import GANimationPipeline

__all__ = [
    "GANimationCritic",
    "GANimationGenerator",
    "GANimationPipeline",
    "animate",
    "count_parameters",
    "load_critic_weights",
    "load_generator_weights",
    "to_native",
]
