"""Label messages: labeling projects (projects.py), their background work (background.py) and the
label check (label_check.py); the service and its routes."""
