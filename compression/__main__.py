"""`python -m compression ...`: the headless CLI."""

from compression.cli import main

raise SystemExit(main())
