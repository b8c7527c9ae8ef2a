"""Hospital data: sources, partitioners and the per-site splits a node trains on."""
