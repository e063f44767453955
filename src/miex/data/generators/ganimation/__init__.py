"""GANimation (Pumarola et al., ECCV 2018): the networks (``GANimationNetwork``, ``GANimationCriticNetwork``), their
checkpoint layouts and the face generator that runs them (``GANimationGenerator``); training in ``.train``."""

from miex.data.generators.ganimation.checkpoints import load_critic_weights, load_generator_weights, to_native
from miex.data.generators.ganimation.model import GANimationCriticNetwork, GANimationNetwork, animate, count_parameters
from miex.data.generators.ganimation.pipeline import GANimationGenerator

__all__ = [
    "GANimationCriticNetwork",
    "GANimationGenerator",
    "GANimationNetwork",
    "animate",
    "count_parameters",
    "load_critic_weights",
    "load_generator_weights",
    "to_native",
]
