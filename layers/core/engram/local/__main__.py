"""`python -m engram.local` (what `make dev` runs): the whole local stack in one process."""

from engram.local.server import main

raise SystemExit(main())
