"""Sequence classes (Sei-style) from a prediction store.

- :func:`fit_classes` (:mod:`.fit`): sample bins, transform, standardise, PCA, kNN graph,
  Leiden, then its clusters merged down to K and refined by k-means (or, unrefined, the K
  largest clusters), held in a :class:`ClassModel`.
- :func:`class_scores` (:mod:`.scores`): any profile projected onto each class vector
  (variant effects: ``class_scores(alt) - class_scores(ref)``).
- :func:`assign_profiles`, :func:`iter_assign` (:mod:`.assign`): a class for every bin.
- :mod:`.annotation`: classes against annotations (ChromHMM states): each bin's state,
  enrichment of each class in each state, adjusted mutual information, state names.
- :func:`build_classes`, :func:`classes_from_config` (:mod:`.run`): the whole stage;
  :func:`load_classes` (:mod:`.files`) reads its folder back, checked.
"""

from genomics.classes.assign import ASSIGN_METHODS, assign_profiles, iter_assign
from genomics.classes.files import load_classes
from genomics.classes.fit import fit_classes
from genomics.classes.model import UNASSIGNED, ClassModel
from genomics.classes.run import build_classes, classes_from_config, open_store
from genomics.classes.sample import sample_bins
from genomics.classes.scores import class_scores

__all__ = [
    "ASSIGN_METHODS",
    "UNASSIGNED",
    "ClassModel",
    "assign_profiles",
    "build_classes",
    "class_scores",
    "classes_from_config",
    "fit_classes",
    "iter_assign",
    "load_classes",
    "open_store",
    "sample_bins",
]
