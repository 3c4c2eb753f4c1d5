"""Built-in model backends, registered exactly like external plugins."""
