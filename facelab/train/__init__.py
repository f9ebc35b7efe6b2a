"""Training loops and checkpoints.

``loop.TrainingRun`` does what every loop does around its step (resume, lock, log, guard, checkpoint);
each loop file holds its config, its history and its named step function (``gan_step``,
``recognizer_step``, ``vae_step``).
"""
from ..models.sampling import sample
from .checkpoint import load_checkpoint, save_checkpoint
from .gan import GANHistory, GANTrainConfig, gan_step, train_gan
from .guards import DivergenceGuard, TrainingDiverged
from .loop import RunInUse, TrainingRun
