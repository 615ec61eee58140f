"""`python -m engram_local` (what `make dev` runs): the whole local stack in one process."""

from engram_local.server import main

raise SystemExit(main())
