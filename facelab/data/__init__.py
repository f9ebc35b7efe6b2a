"""Face data: the procedural synthetic faces (offline default), real face datasets, toy distributions."""
from .base import FaceTensorDataset
from .cache import DatasetNotFoundError, data_dir
from .real import LfwPairs, load_celeba, load_image_folder, load_lfw_pairs, load_lfw_people, load_lfw_subset
from .synthetic import SyntheticFaceConfig, identity_params, make_synthetic_faces, render_faces
from .toy import GaussianMixture, mixture_1d, ring_2d
