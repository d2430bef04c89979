"""Ready-made data, models and objectives for demos, tutorials, tests and benchmarks."""
from .data import digits, mnist5k, torchvision_dataset
from .objectives import DigitsMLP, digits_mlp, digits_space

__all__ = ["digits", "mnist5k", "torchvision_dataset", "DigitsMLP", "digits_mlp", "digits_space"]
