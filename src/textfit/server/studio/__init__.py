"""`textfit studio`: fine-tuning without code, in a browser. app.py wires one subpackage per feature,
each a service (plain Python) and a router built from it; the page is static/."""
