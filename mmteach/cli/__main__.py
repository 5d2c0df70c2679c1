"""``python -m mmteach.cli``: the ``mmteach`` command."""

import sys

from mmteach.cli import main

sys.exit(main())
