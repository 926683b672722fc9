"""Measures: generative quality of pseudo-sequence generators, Lyapunov exponents."""
from .generative import (SequenceClassifier, coverage_density, discriminative_score, fit_embedding,
                         frechet_distance, median_bandwidth, mmd2_rbf, modes_recovered,
                         per_class_coverage_density, train_classifier, tstr)
from .lyapunov import LORENZ_LYAPUNOV, benettin_lorenz, lorenz_trajectories, rosenstein_lyapunov

__all__ = [
    "coverage_density", "per_class_coverage_density", "mmd2_rbf", "median_bandwidth", "frechet_distance",
    "SequenceClassifier", "train_classifier", "fit_embedding", "discriminative_score", "tstr",
    "modes_recovered",
    "rosenstein_lyapunov", "benettin_lorenz", "lorenz_trajectories", "LORENZ_LYAPUNOV",
]
