"""The common model adapter, head kinds, and loaders for each kind of model."""

from medrobust.heads import Head, HeadKind, make_head
from medrobust.models.adapter import ModelAdapter, VerifyReport
from medrobust.models.checkpoints import load_state_dict, load_weights
from medrobust.models.loaders import monai_model, torchscript_model, torchvision_model
from medrobust.models.preprocessing import Preprocess

__all__ = [
    "Head",
    "HeadKind",
    "ModelAdapter",
    "Preprocess",
    "VerifyReport",
    "load_state_dict",
    "load_weights",
    "make_head",
    "monai_model",
    "torchscript_model",
    "torchvision_model",
]
