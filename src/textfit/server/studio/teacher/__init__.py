"""The larger teacher: whether all-mpnet-base-v2 is downloaded, and fetching it once; the service and its routes."""
