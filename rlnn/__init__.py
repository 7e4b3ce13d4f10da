"""rlnn: a neural network written from scratch in numpy, for small-network reinforcement learning.

    import numpy as np, rlnn
    net = rlnn.MLP([1, 8, 1], activation="sigmoid", rng_or_seed=0, dtype=np.float64)
    opt = rlnn.optim.Adam(net.parameters(), lr=0.05)
    value, grad = rlnn.losses.SquaredError(reduction="sum")(net(x), t)
    net.zero_grad(); net.backward(grad); opt.step()
    rlnn.save(net, "model.npz"); same = rlnn.load("model.npz")

Where each concept lives: ``module`` (Parameter, Module), ``layers`` (Linear, Sequential, MLP),
``activations``, ``losses``, ``init`` (Xavier, He, ...), ``optim`` (SGD ... Adam, clipping,
Polyak), ``schedules``, ``serialization`` (save/load), ``training`` (fit, Standardizer,
split), ``datasets`` (the seeds' toy problems), ``gradcheck`` (finite differences).
Depends on numpy only.
"""

from . import activations, gradcheck, init, losses, optim, schedules
from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Step, Tanh
from .layers import MLP, Linear, Sequential
from .module import Module, Parameter, module_from_config
from .serialization import load, load_arrays, save, save_arrays
from .training import History, Standardizer, accuracy, fit, train_test_split

__version__ = "0.1.0"

__all__ = [
    "MLP", "Linear", "Sequential", "Module", "Parameter", "module_from_config",
    "Identity", "Step", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax",
    "activations", "gradcheck", "init", "losses", "optim", "schedules",
    "save", "load", "save_arrays", "load_arrays",
    "fit", "History", "Standardizer", "accuracy", "train_test_split",
]
