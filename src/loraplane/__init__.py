"""LoRA Plane: command line, embedded AWS emulator and developer tools."""
