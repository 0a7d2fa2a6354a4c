"""`textfit studio`: fine-tuning without code, in a browser. One module per feature; the page is
static/."""
