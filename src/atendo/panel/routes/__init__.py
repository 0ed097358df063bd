"""One module per panel screen."""
