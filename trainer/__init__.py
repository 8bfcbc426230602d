"""shoal.trainer: the advantage op (CPU and CUDA) and, as it grows, a small fast PPO trainer.

Needs torch (install it yourself, e.g. `pip install torch`): shoal's env suite does not.
"""
