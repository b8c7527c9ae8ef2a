"""The fedhealth hospital node: loads its own data, trains locally, dials out only."""
