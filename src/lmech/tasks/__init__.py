"""Data generators: teacher–student tasks and small data sets that ship with a package."""

from lmech.tasks.composition import CompositionTask, function_composition
from lmech.tasks.concept_space import ConceptSpace, concept_distance, concept_space
from lmech.tasks.digits import Digits, digits
from lmech.tasks.random_labels import gaussian_random_labels
from lmech.tasks.sparse_features import sparse_feature_batch, sparse_features
from lmech.tasks.sparse_parity import SparseParityTasks, multitask_sparse_parity
from lmech.tasks.teacher import (
    LinearTeacher,
    linear_teacher,
    moment_matched_inputs,
    whitened_inputs,
)

__all__ = [
    "CompositionTask",
    "ConceptSpace",
    "Digits",
    "LinearTeacher",
    "SparseParityTasks",
    "concept_distance",
    "concept_space",
    "digits",
    "function_composition",
    "gaussian_random_labels",
    "linear_teacher",
    "moment_matched_inputs",
    "multitask_sparse_parity",
    "sparse_feature_batch",
    "sparse_features",
    "whitened_inputs",
]
