"""Study specs: validation, expansion into cells, registration."""
