"""A trained classifier and what it is made of: base encoders (base_models, catalog), the runtimes
it runs on (backends), the n-gram model and the blend (lexical, blend), confidences (calibration),
reasons (explain), metrics (evaluate), the saved folder (folder) and fill-mask on a base model."""
