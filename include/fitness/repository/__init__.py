"""SQL of the fitness domain, one module per service of include/fitness/ and named after it."""
