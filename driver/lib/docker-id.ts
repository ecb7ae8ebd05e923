/**
 * The ids Docker hands the driver. A network has one of two forms: a local
 * network's id is 64 lower-case hex characters (made by the node's dockerd),
 * a swarm-scoped network's is 25 lower-case letters and digits (made by the
 * swarm's managers, the same on every node). Endpoint ids are always the
 * 64-hex form: every node's dockerd makes its own endpoints, swarm tasks' too.
 */

export type NetworkIdForm = "local" | "swarm";

const LOCAL_ID = /^[0-9a-f]{64}$/;
const SWARM_ID = /^[0-9a-z]{25}$/;

/** Which form a network id has; undefined when it is neither. */
export function networkIdForm(id: string): NetworkIdForm | undefined {
  if (LOCAL_ID.test(id)) return "local";
  if (SWARM_ID.test(id)) return "swarm";
  return undefined;
}

export function isEndpointId(id: string): boolean {
  return LOCAL_ID.test(id);
}

export const NETWORK_ID_RULE = "must be a Docker network id: 64 lower-case hex characters, or 25 lower-case letters and digits (swarm)";
export const ENDPOINT_ID_RULE = "must be 64 lower-case hex characters";
