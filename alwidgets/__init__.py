"""alwidgets: the helpers behind the active-learning tutorial.

Light on import: TensorFlow is loaded only by ``alwidgets.data`` and
``alwidgets.backbones``, ``features`` and ``heads``, which notebooks import
when they need them. Importing ``alwidgets`` before TensorFlow also hides
TensorFlow's start-up log lines (see :mod:`alwidgets.quiet_tf`).
"""

from . import quiet_tf
from .annotate import ImageAnnotator
from .config import cache_dir, check_network, get_profile, set_profile
from .criteria import entropy, least_confidence, select, smallest_margin
from .labels import LabelStore
from .playground import CriteriaPlayground
from .session import ActiveLearningSession

__all__ = [
    "ActiveLearningSession",
    "CriteriaPlayground",
    "ImageAnnotator",
    "LabelStore",
    "cache_dir",
    "check_network",
    "entropy",
    "get_profile",
    "least_confidence",
    "select",
    "set_profile",
    "smallest_margin",
]
__version__ = "0.1.0"

quiet_tf.quiet_tensorflow_startup()  # none of the imports above loads TensorFlow
