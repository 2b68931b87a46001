#!/usr/bin/env bash
# Run by snakemake --use-conda once the environment exists, from the directory snakemake
# runs in (the project root): install this package (its dependencies came from conda).
set -euo pipefail
python -m pip install --no-deps -e "${GENOMICS_SRC:-.}"
