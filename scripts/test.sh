#!/bin/bash
# Sets up the machine and runs every test tier: unit, integration (in a
# throwaway network namespace), e2e (simulated Azure network, real dockerd).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
npm run lint
npm test
