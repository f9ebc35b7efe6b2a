"""facelab: the companion package of the course "GANs and Face Recognition".

The stable surface is re-exported here; everything else lives in a module named
after its concept (``facelab.losses.gan``, ``facelab.models.dcgan``, ...).
"""
__version__ = "0.1.0"

from .profile import Profile, get_profile
from .runtime import autocast, banner, get_device, in_colab, seed_everything

__all__ = ["Profile", "get_profile", "autocast", "banner", "get_device", "in_colab", "seed_everything",
           "__version__"]
