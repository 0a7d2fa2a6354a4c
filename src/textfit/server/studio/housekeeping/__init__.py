"""Housekeeping: rename and delete runs, the disk they use; the service and its routes."""
