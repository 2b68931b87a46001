"""``python -m genomics`` (also what ``torchrun -m genomics`` runs)."""

import sys

from genomics.cli import main

sys.exit(main())
