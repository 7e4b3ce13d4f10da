"""rlnn: a neural network written from scratch in numpy, for small-network reinforcement learning.

    import numpy as np, rlnn
    net = rlnn.MLP([1, 8, 1], activation="sigmoid", rng_or_seed=0, dtype=np.float64)
    opt = rlnn.optim.Adam(net.parameters(), lr=0.05)
    value, grad = rlnn.losses.SquaredError(reduction="sum")(net(x), t)
    net.zero_grad(); net.backward(grad); opt.step()
    rlnn.save(net, "model.npz"); same = rlnn.load("model.npz")
    bn = rlnn.MLP([4, 64, 1], norm="batch", dropout=0.1, rng_or_seed=0)   # train mode by default
    bn.eval(); bn.train()       # modes; bn.predict(x) always acts as in eval mode

Where each concept lives: ``module`` (Parameter, Buffer, Module), ``layers`` (Linear,
Sequential, MLP), ``norm`` (BatchNorm with batch renormalization, LayerNorm), ``dropout``,
``activations``, ``losses``, ``init`` (Xavier, He, ...), ``optim`` (SGD ... Adam, clipping,
Polyak), ``schedules``, ``serialization`` (save/load), ``training`` (fit, Standardizer,
split), ``datasets`` (the seeds' toy problems), ``gradcheck`` (finite differences).
Depends on numpy only.
"""

from . import activations, datasets, dropout, gradcheck, init, losses, norm, optim, schedules
from .activations import Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Step, Tanh
from .dropout import Dropout
from .layers import MLP, Linear, Sequential
from .buffer import Buffer
from .module import Module, Parameter, contiguous_spans, module_from_config, pack_parameters
from .norm import BatchNorm, LayerNorm
from .serialization import load, load_arrays, save, save_arrays
from .training import History, Standardizer, accuracy, fit, train_test_split

__version__ = "0.1.0"

__all__ = [  # sorted, as ruff's RUF022 asks
    "MLP", "BatchNorm", "Buffer", "Dropout", "History", "Identity", "LayerNorm", "LeakyReLU", "Linear",
    "Module", "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Standardizer", "Step", "Tanh",
    "accuracy", "activations", "contiguous_spans", "datasets", "dropout", "fit", "gradcheck", "init", "load",
    "load_arrays", "losses", "module_from_config", "norm", "optim", "pack_parameters", "save", "save_arrays",
    "schedules", "train_test_split",
]
