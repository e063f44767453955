"""Recognizer families, one module each, registered by name and with the transformers Auto classes.

Importing this package registers every family, after which ``AutoModelForImageClassification.from_pretrained``
loads any saved miex recognizer.
"""

from . import apexme, branches, dtscnn, htnet, offapexnet, ststnet
from .apexme import ApexMEConfig, ApexMEForMicroExpression
from .base import RANDOM_INIT, InputSpec, MiexConfig, MiexPreTrainedModel
from .branches import BranchesConfig, BranchesForMicroExpression
from .dtscnn import DTSCNNConfig, DTSCNNForMicroExpression
from .finetune import load_for_finetuning
from .htnet import HTNetConfig, HTNetForMicroExpression
from .offapexnet import OffApexNetConfig, OffApexNetForMicroExpression
from .registry import config_class, create_config, create_model, list_models, model_class
from .ststnet import STSTNetConfig, STSTNetForMicroExpression

__all__ = [
    "RANDOM_INIT",
    "ApexMEConfig",
    "ApexMEForMicroExpression",
    "BranchesConfig",
    "BranchesForMicroExpression",
    "DTSCNNConfig",
    "DTSCNNForMicroExpression",
    "HTNetConfig",
    "HTNetForMicroExpression",
    "InputSpec",
    "MiexConfig",
    "MiexPreTrainedModel",
    "OffApexNetConfig",
    "OffApexNetForMicroExpression",
    "STSTNetConfig",
    "STSTNetForMicroExpression",
    "apexme",
    "branches",
    "config_class",
    "create_config",
    "create_model",
    "dtscnn",
    "htnet",
    "list_models",
    "load_for_finetuning",
    "model_class",
    "offapexnet",
    "ststnet",
]
