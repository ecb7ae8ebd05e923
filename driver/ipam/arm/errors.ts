/** Owns the ARM errors and the sentences that tell the user which `az` command fixes them. */
import { PluginError, type PluginErrorCode } from "../../errors";

/** Where the VM is in Azure, from IMDS's compute metadata. */
export interface VmRef {
  subscriptionId: string;
  resourceGroupName: string;
  name: string;
  /** /subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name> */
  resourceId: string;
}

/** A failure talking to ARM or to IMDS's identity endpoint; `armCode` is ARM's error code when it gave one. */
export class ArmError extends PluginError {
  constructor(
    message: string,
    readonly status: number,
    readonly armCode: string | undefined,
    code: PluginErrorCode = "unavailable",
  ) {
    super(message, code);
    this.name = "ArmError";
  }
}

const DOCS = "see docs/ipconfig-management.md";

export function noIdentity(vm: VmRef, detail: string): ArmError {
  return new ArmError(
    `this VM has no managed identity, so the plugin cannot manage its ipconfigs through Azure Resource Manager (IMDS said: ${detail}): ` +
      `assign one with "az vm identity assign --resource-group ${vm.resourceGroupName} --name ${vm.name}" and give it the ` +
      `"Network Contributor" role (${DOCS})`,
    400,
    "IdentityNotFound",
  );
}

/** 403 from ARM: the identity lacks the role; `scope` is the NIC's id, or the resource group's when unknown. */
export function notAuthorized(principal: string | undefined, scope: string, message: string): ArmError {
  const assignee =
    principal ?? "<the VM identity's principal id: az vm identity show --resource-group <rg> --name <vm> --query principalId -o tsv>";
  return new ArmError(
    `the VM's managed identity may not change its network interface (ARM said: ${message}): grant it with ` +
      `"az role assignment create --assignee ${assignee} --role "Network Contributor" --scope ${scope}" ` +
      `(the resource group's id as the scope also covers joining the subnet; ${DOCS})`,
    403,
    "AuthorizationFailed",
  );
}

export function nicNotFound(vm: VmRef, mac: string, seen: string[]): ArmError {
  return new ArmError(
    `none of the network interfaces of VM ${vm.name} in Azure Resource Manager has MAC ${mac}, the NIC this plugin uses ` +
      `(${seen.join(", ") || "the VM lists none"}); check with "az vm nic list --resource-group ${vm.resourceGroupName} --vm-name ${vm.name}"`,
    404,
    "NicNotFound",
  );
}

/** ARM's {"error": {"code", "message"}} body as "Code: message". */
export function armErrorText(body: string): { code: string | undefined; message: string } {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    const code = typeof parsed.error?.code === "string" ? parsed.error.code : undefined;
    const message = typeof parsed.error?.message === "string" ? parsed.error.message : undefined;
    if (code || message) return { code, message: `${code ?? "error"}: ${message ?? ""}`.trim() };
  } catch {
    // Not JSON: the body itself.
  }
  return { code: undefined, message: body.trim().replace(/\s+/g, " ").slice(0, 300) || "no details" };
}
