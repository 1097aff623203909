"""The network: the sign function and its straight-through gradient (binarize), the binary
layers (layers), the model built from a run's settings (models), the loss (losses), the
optimizer (optim) and the network in numbers: parameters, memory, multiply-adds (summary)."""
