"""Evaluation metrics: classification, face verification, and GAN sample quality.

* :mod:`facelab.metrics.classification`: accuracy, precision/recall/F1,
  confusion matrix (wrappers over :mod:`sklearn.metrics`).
* :mod:`facelab.metrics.verification`: pairs, ROC, AUC, EER, TAR@FAR and the
  LFW 10-fold protocol.
* :mod:`facelab.metrics.gan`: FID and KID on features, feature extraction.
"""
from facelab.metrics.classification import accuracy, confusion_matrix, precision_recall_f1
from facelab.metrics.gan import (
    extract_features,
    fid_kid_baselines,
    frechet_distance,
    inception_feature_extractor,
    kernel_inception_distance,
)
from facelab.metrics.verification import (
    KFoldResult,
    RocCurve,
    auc,
    best_threshold,
    cosine_scores,
    equal_error_rate,
    far_frr,
    kfold_verification,
    make_pairs,
    paired_cosine_scores,
    roc,
    tar_at_far,
    verification_accuracy,
)

__all__ = [
    "accuracy",
    "precision_recall_f1",
    "confusion_matrix",
    "make_pairs",
    "cosine_scores",
    "paired_cosine_scores",
    "RocCurve",
    "roc",
    "auc",
    "equal_error_rate",
    "tar_at_far",
    "far_frr",
    "verification_accuracy",
    "best_threshold",
    "KFoldResult",
    "kfold_verification",
    "frechet_distance",
    "kernel_inception_distance",
    "extract_features",
    "inception_feature_extractor",
    "fid_kid_baselines",
]
