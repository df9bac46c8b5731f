"""``python -m hallq``: the ``hallq`` command."""
import sys

from hallq.tools.cli import main

sys.exit(main())
