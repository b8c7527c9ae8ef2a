"""Models per modality, built from a torch-free `ModelSpec` so the coordinator stays light."""
