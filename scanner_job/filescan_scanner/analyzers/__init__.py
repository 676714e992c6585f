"""One module per analyzer; ``registry`` lists them in the order they run."""
