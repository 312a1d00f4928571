"""The estimator and the bounds: mu and mu2, the published, Lorden, renewal, i.i.d. and trajectory bounds, timing."""
