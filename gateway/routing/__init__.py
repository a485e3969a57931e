"""Which deployments may answer a request, in which order, and walking them on failure."""
