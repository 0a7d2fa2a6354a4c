"""Classify a file: the job's process (job.py), what the page shows of the file first (file_preview.py);
the service and its routes."""
