"""Recognizer families, one module each, registered by name and with the transformers Auto classes.

Importing this package registers every family, after which ``AutoModelForImageClassification.from_pretrained``
loads any saved miex recognizer.
"""

from miex.train.models import apexme, branches, dtscnn, htnet, offapexnet, ststnet
from miex.train.models.apexme import ApexMEConfig, ApexMEForMicroExpression
from miex.train.models.base import RANDOM_INIT, InputSpec, MiexConfig, MiexPreTrainedModel
from miex.train.models.branches import BranchesConfig, BranchesForMicroExpression
from miex.train.models.dtscnn import DTSCNNConfig, DTSCNNForMicroExpression
from miex.train.models.finetune import load_for_finetuning
from miex.train.models.htnet import HTNetConfig, HTNetForMicroExpression
from miex.train.models.offapexnet import OffApexNetConfig, OffApexNetForMicroExpression
from miex.train.models.registry import config_class, create_config, create_model, list_models, model_class
from miex.train.models.ststnet import STSTNetConfig, STSTNetForMicroExpression

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
