"""Loss functions: GAN objectives (``gan``) and face-recognition margins (``margin``)."""
from .gan import (
    GAN_LOSSES,
    GANLoss,
    get_gan_loss,
    gradient_penalty,
    hinge_loss_d,
    hinge_loss_g,
    lsgan_loss_d,
    lsgan_loss_g,
    minimax_loss_d,
    minimax_loss_g,
    nonsaturating_loss_g,
    wgan_loss_d,
    wgan_loss_g,
)
from .margin import HEADS, MarginHead, SoftmaxHead, arcface_head, cosface_head, get_head, normface_head, softmax_head
