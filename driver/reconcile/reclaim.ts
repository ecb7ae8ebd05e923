/**
 * Endpoints whose host veth is gone belong to containers that are gone too:
 * a veth pair dies with the container's namespace, and after a reboot every
 * container is gone. Docker's Leave/DeleteEndpoint/ReleaseAddress for them
 * were lost (the plugin was down), so the plugin releases them itself, each
 * endpoint together with the address it holds and nothing else.
 */
import type { Dataplane } from "../dataplane";
import type { Logger } from "../log";
import type { NetworkState } from "../network/records";
import { errorMessage } from "../errors";
import { shortId } from "../lib/text";

export interface Reclaim {
  network: { releaseEndpoint(endpointId: string): Promise<boolean> };
}

export async function releaseDeadEndpoints(state: NetworkState, dp: Dataplane, targets: Reclaim, logger: Logger): Promise<string[]> {
  const links = new Set((await dp.listLinks()).map((l) => l.name));
  const released: string[] = [];
  for (const ep of Object.values(state.endpoints)) {
    if (links.has(ep.hostVeth)) continue;
    try {
      if (await targets.network.releaseEndpoint(ep.id)) released.push(ep.address);
    } catch (err) {
      logger.warn("could not release the endpoint of a container that is gone", { endpointId: shortId(ep.id), error: errorMessage(err) });
    }
  }
  if (released.length) logger.info("released endpoints of containers that are gone", { addresses: released.join(",") });
  return released;
}
