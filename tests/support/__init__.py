"""What tests share, imported as `support.NAME` (pytest puts tests/ on the path): tiny models,
shared-data paths, waiting for something to happen, the studio in a browser, studio fixtures."""
