"""Models and jobs of the documentation's tour, importable so that Ray workers and reloads find them."""
