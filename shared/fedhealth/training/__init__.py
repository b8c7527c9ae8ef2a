"""Local training and evaluation loops run by hospital nodes (and the pooled baseline)."""
