"""Downloads: a run's result files, its model as a .zip (archive.py), and its ONNX export; the
service and its routes."""
