"""The local stack: AWS emulator, queue pump and dev server (`python -m engram_local`).
A package of its own, outside layers/core, so none of it is deployed in the Lambda layer."""
