"""What a person sees: plots (PNG), console tables and the progress bar."""
