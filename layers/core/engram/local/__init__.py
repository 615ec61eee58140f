"""The local stack: AWS emulator, queue pump and dev server."""
