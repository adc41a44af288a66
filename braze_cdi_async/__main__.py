"""``python -m braze_cdi_async``: the ``braze-cdi`` command line."""

from __future__ import annotations

import sys

from braze_cdi_async.cli import main

if __name__ == "__main__":
    sys.exit(main())
