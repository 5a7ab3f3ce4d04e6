"""The runtime inside the packaged container: scorer, router, batch."""
