"""``python -m salpynn`` is the ``salpynn`` command (useful under ``mpirun``)."""

from salpynn.cli import main

raise SystemExit(main())
