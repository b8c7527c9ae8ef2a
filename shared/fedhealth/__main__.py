"""`python -m fedhealth` is the `fedhealth` command."""

from fedhealth.cli.main import main

raise SystemExit(main())
