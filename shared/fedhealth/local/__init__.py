"""A whole federation on this machine: the processes behind `fedhealth run`."""
