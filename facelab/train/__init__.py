"""Training loops and checkpoints."""
from .checkpoint import load_checkpoint, save_checkpoint
from .gan import GANHistory, GANTrainConfig, sample, train_gan
from .guards import DivergenceGuard, TrainingDiverged
