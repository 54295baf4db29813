#!/usr/bin/env bash
# Regenerates tests/golden/*.json from the real peer (diffusers). Creates the ignored virtualenv
# .venv at the repository root on first use. Tests only read the JSON; they never run this.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -r tests/golden/requirements.txt
.venv/bin/python tests/golden/make_golden.py
.venv/bin/python tests/golden/make_golden_dpm.py
.venv/bin/python tests/golden/make_golden_unipc.py
.venv/bin/python tests/golden/make_golden_euler.py
.venv/bin/python tests/golden/make_golden_guidance.py
.venv/bin/python tests/golden/make_golden_lcm.py
