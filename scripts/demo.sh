#!/bin/bash
# Sets up the machine, brings up the simulated Azure network (two VMs with
# real dockerd), starts the plugin on both VMs with its production defaults,
# and shows containers talking under their own VNet addresses.
# Leaves the simulator running; `npm run sim -- down` tears it down.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
exec node dist/sim/demo.js "$@"
