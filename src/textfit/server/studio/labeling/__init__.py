"""Label messages: labeling projects (projects.py) and their background work (background.py); the
service and its routes."""
