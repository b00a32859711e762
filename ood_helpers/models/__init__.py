"""Networks: the ResNet-18 classifier / encoder and the class-homogeneity model."""

from .homogeneity import HomogeneityModel, valid_mask
from .resnet import build_resnet18, encoder_from_classifier, feature_dim

__all__ = ["HomogeneityModel", "build_resnet18", "encoder_from_classifier", "feature_dim", "valid_mask"]
