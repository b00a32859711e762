"""Backbones shared by the papers: torchvision's ResNet-18 adapted to small images, and a small CNN."""
