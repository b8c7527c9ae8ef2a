"""The fedhealth coordinator service: runs federated rounds over gRPC."""
