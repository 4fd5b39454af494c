"""`python -m smsengine`."""

import sys

from smsengine.cli import main

sys.exit(main())
