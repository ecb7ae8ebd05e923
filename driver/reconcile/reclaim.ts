/**
 * Endpoints whose host veth is gone belong to containers that are gone too:
 * a veth pair dies with the container's namespace, and after a reboot every
 * container is gone. Docker's Leave/DeleteEndpoint/ReleaseAddress for them
 * were lost (the plugin was down), so the plugin releases them itself.
 */
import type { Dataplane } from "../dataplane";
import type { Logger } from "../log";
import type { NetworkState } from "../network/records";
import { errorMessage } from "../errors";

export interface Reclaim {
  network: { deleteEndpoint(req: { NetworkID: string; EndpointID: string }): Promise<void> };
  ipam: { endpointPoolOf(address: string): string | undefined; releaseAddress(req: { PoolID: string; Address: string }): Promise<void> };
}

export async function releaseDeadEndpoints(state: NetworkState, dp: Dataplane, targets: Reclaim, logger: Logger): Promise<string[]> {
  const links = new Set((await dp.listLinks()).map((l) => l.name));
  const released: string[] = [];
  for (const ep of Object.values(state.endpoints)) {
    if (links.has(ep.hostVeth)) continue;
    try {
      await targets.network.deleteEndpoint({ NetworkID: ep.networkId, EndpointID: ep.id });
      const poolId = targets.ipam.endpointPoolOf(ep.address);
      if (poolId) await targets.ipam.releaseAddress({ PoolID: poolId, Address: ep.address });
      released.push(ep.address);
    } catch (err) {
      logger.warn("could not release the endpoint of a container that is gone", { endpointId: ep.id.slice(0, 12), error: errorMessage(err) });
    }
  }
  if (released.length) logger.info("released endpoints of containers that are gone", { addresses: released.join(",") });
  return released;
}
