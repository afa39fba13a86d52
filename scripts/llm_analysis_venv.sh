#!/usr/bin/env bash
# Create an isolated virtual environment for the third-party estimator llm-analysis
# (PyPI llm-analysis 0.2.2, https://github.com/cli99/llm-analysis), used only by
# scripts/llm_analysis_rows.py to produce tests/data/llm_analysis_results.json.
#
# Why --no-deps: llm-analysis 0.2.2 declares fire<0.6, huggingface-hub<0.15 and
# transformers<5. On Python 3.11 pip cannot satisfy the last two together quickly: it
# backtracks through dozens of transformers releases (each ~10 MB) looking for one that
# accepts huggingface-hub<0.15. Neither is needed here: llm_analysis/config.py imports
# transformers inside try/except (and huggingface_hub only inside a function); both are
# used solely to fetch model configs from the Hugging Face Hub, while we pass our own
# architecture as a JSON model config. The only hard import is `fire` (analysis.py and
# config.py do `import fire` at module level); fire 0.5.0 pulls six and termcolor.
# PyYAML is added so the rows script can read tests/data/validation.yaml.
#
# Idempotent: if the venv already imports llm_analysis 0.2.2, fire and yaml, nothing is done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LLM_ANALYSIS_VENV:-$ROOT/.venv-llm-analysis}"
PY="${PYTHON:-python3}"
LLM_ANALYSIS_VERSION="0.2.2"

check() {
    "$VENV/bin/python" - "$LLM_ANALYSIS_VERSION" <<'PYEOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
import fire, yaml  # noqa: F401  (hard import of llm_analysis; reader of validation.yaml)
assert version("llm-analysis") == sys.argv[1], version("llm-analysis")
import llm_analysis.analysis  # noqa: F401
PYEOF
}

if [ -x "$VENV/bin/python" ] && check; then
    echo "llm-analysis $LLM_ANALYSIS_VERSION already installed in $VENV"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "llm-analysis==$LLM_ANALYSIS_VERSION" --no-deps
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "fire==0.5.0" "pyyaml>=6,<7"

if ! check; then
    echo "llm-analysis venv at $VENV failed its import check" >&2
    exit 1
fi
echo "llm-analysis $LLM_ANALYSIS_VERSION installed in $VENV:"
"$VENV/bin/python" -m pip freeze --disable-pip-version-check
