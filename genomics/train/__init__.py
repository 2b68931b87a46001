"""Training: losses, schedule, checkpoints, DDP plumbing and the ``fit`` loop."""
