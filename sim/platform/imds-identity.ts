/**
 * IMDS's managed-identity endpoint, /metadata/identity/oauth2/token: a token
 * for the asking VM's system-assigned identity, or the errors Azure answers
 * (no identity on the VM, a resource missing, knobs forcing a failure).
 */
import type { Vm } from "../topology";
import type { HttpAnswer } from "./http-pipeline";
import { identityClientId, principalId, vmResourceId } from "./arm-ids";
import type { VmKnobs } from "./knobs";
import type { TokenIssuer } from "./arm-token";

/** Audiences ARM accepts, as Entra ID issues them for these resource names. */
export const ARM_AUDIENCES = ["https://management.azure.com/", "https://management.azure.com", "https://management.core.windows.net/"];

/** The identity endpoint's error format (Entra ID's, not the instance endpoint's). */
export function identityError(status: number, error: string, description: string): HttpAnswer {
  return {
    status,
    contentType: "application/json; charset=utf-8",
    body: JSON.stringify({ error, error_description: description }),
  };
}

export function identityToken(url: URL, vm: Vm, knobs: VmKnobs, tokens: TokenIssuer): HttpAnswer {
  const resource = url.searchParams.get("resource");
  if (resource === null || resource === "") return identityError(400, "invalid_request", "Required query variable 'resource' is missing");
  if (knobs.tokenStatus !== undefined)
    return identityError(knobs.tokenStatus, "unknown_error", `simulated token failure (HTTP ${knobs.tokenStatus})`);
  if (knobs.identity === false) return identityError(400, "invalid_request", "Identity not found");
  // A user-assigned identity asked for by id: the VM has only its system-assigned one.
  const asked = [
    ["client_id", identityClientId(vm.name)],
    ["object_id", principalId(vm.name)],
    ["msi_res_id", vmResourceId(vm.name)],
  ].filter(([param]) => url.searchParams.has(param));
  if (asked.some(([param, own]) => url.searchParams.get(param)?.toLowerCase() !== own.toLowerCase()))
    return identityError(400, "invalid_request", "Identity not found");
  if (!ARM_AUDIENCES.includes(resource))
    return identityError(400, "invalid_resource", `AADSTS500011: The resource principal named ${resource} was not found in the tenant.`);
  return { status: 200, contentType: "application/json; charset=utf-8", body: JSON.stringify(tokens.issue(vm.name, resource)) };
}
