"""The fedhealth key server: serves each node's signed public keys per round."""
