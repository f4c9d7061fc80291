"""The operations console: where staff see every alert live and work it to the end."""
