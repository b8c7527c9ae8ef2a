"""The `fedhealth` command line."""
