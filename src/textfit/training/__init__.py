"""Training: `train` (the whole run, top to bottom), the fine-tuning loop and what it shares with
few-shot (loop), the few-shot strategy, checkpoints, several processes (distributed), what a Stop
means (stopping), and progress reporting (callbacks)."""
