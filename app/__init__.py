"""GPU Advisor: which GPU, how many, how long, how much money, and will it fit."""

__version__ = "0.1.0"
