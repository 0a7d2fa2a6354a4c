"""Training runs: the queue (scheduler.py), the training process (worker.py), its progress read
from outside (progress.py), how a run ended (outcome.py), its results (results.py); the service
and its routes."""
