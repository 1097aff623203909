"""Training: the loop (loop), the rules of live edits (live_edits, no PyTorch), MNIST
(data), the devices and threads (devices), several processes (distributed), the records of
a run (metrics) and the TensorBoard log (tensorboard_log)."""
