"""Networks: DCGAN, the toy MLP GAN, and (``recognition``) face embedders with margin heads."""
from .dcgan import Discriminator, Generator, count_parameters, dcgan_init_
from .toy import ToyDiscriminator, ToyGenerator
