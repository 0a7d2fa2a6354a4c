"""Data in: files as they come (readers), labeled examples checked and split (labeled), texts
streamed in batches and predictions streamed out (streaming), small text files read whole (texts),
and the embedded sample (sample/)."""
