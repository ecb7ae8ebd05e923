/**
 * Azure Resource Manager's request handling for what the plugin uses: GET of
 * a VM, GET and PUT of a NIC (and GET of its ipconfigs), GET of an
 * Azure-AsyncOperation. In front of every call, as ARM does: the bearer
 * token (401), throttling per principal (429 with Retry-After), the
 * api-version (400), the identity's role (403).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { nicsOf, type NicView, type Topology, type Vm } from "../topology";
import type { HttpAnswer, HttpRoute } from "./http-pipeline";
import { nicId, nicName, vmResourceId } from "./arm-ids";
import { armNicDocument, armVmDocument } from "./arm-documents";
import { planNicPut, type ArmError } from "./arm-nic-put";
import type { NicOperation, NicOperations } from "./arm-operations";
import type { TokenIssuer } from "./arm-token";
import { ARM_AUDIENCES } from "./imds-identity";
import { SIM_LOCATION, SIM_RESOURCE_GROUP, SIM_SUBSCRIPTION_ID } from "./arm-ids";
import type { ArmKnobs, VmKnobs } from "./knobs";
import { SlidingWindowLimiter } from "./rate-limit";
import { ARM_HOST } from "../names";

const API_VERSION = /^\d{4}-\d{2}-\d{2}(-preview)?$/;
/** Seconds a client is told to wait between polls of a running operation. */
const POLL_AFTER_S = "1";

export interface ArmContext {
  topology: () => Topology;
  knobs: () => ArmKnobs;
  vmKnobs: (vm: string) => VmKnobs;
  tokens: TokenIssuer;
  operations: NicOperations;
}

const CODES_BY_STATUS: Record<number, string> = {
  409: "AnotherOperationInProgress",
  429: "TooManyRequests",
  500: "InternalServerError",
  502: "BadGateway",
  503: "ServiceUnavailable",
  504: "GatewayTimeout",
};

/** ARM's error body. */
export function armError(status: number, code: string, message: string, headers: Record<string, string> = {}): HttpAnswer {
  return {
    status,
    contentType: "application/json; charset=utf-8",
    body: JSON.stringify({ error: { code, message, details: [] } }),
    headers,
  };
}

/** An injected fault (the status knobs) in ARM's error format. */
export function armFault(status: number, message: string): HttpAnswer {
  return armError(status, CODES_BY_STATUS[status] ?? "SimulatedFault", message);
}

const fromError = (e: ArmError) => armError(e.status, e.code, e.message);

function json(status: number, value: unknown, headers: Record<string, string> = {}): HttpAnswer {
  return { status, contentType: "application/json; charset=utf-8", body: JSON.stringify(value), headers };
}

/** Segments match a pattern: literals case-insensitively (ARM paths are), "*" captures. */
function match(segments: string[], pattern: string[]): string[] | undefined {
  if (segments.length !== pattern.length) return undefined;
  const captured: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === "*") captured.push(decodeURIComponent(segments[i]));
    else if (segments[i].toLowerCase() !== pattern[i].toLowerCase()) return undefined;
  }
  return captured;
}

const RG = ["subscriptions", "*", "resourceGroups", "*", "providers"];
const ROUTES = {
  vm: [...RG, "Microsoft.Compute", "virtualMachines", "*"],
  nic: [...RG, "Microsoft.Network", "networkInterfaces", "*"],
  ipConfigs: [...RG, "Microsoft.Network", "networkInterfaces", "*", "ipConfigurations"],
  ipConfig: [...RG, "Microsoft.Network", "networkInterfaces", "*", "ipConfigurations", "*"],
  operation: ["subscriptions", "*", "providers", "Microsoft.Network", "locations", "*", "operations", "*"],
};

function operationUrl(op: NicOperation, apiVersion: string): string {
  return `https://${ARM_HOST}/subscriptions/${SIM_SUBSCRIPTION_ID}/providers/Microsoft.Network/locations/${SIM_LOCATION}/operations/${op.id}?api-version=${apiVersion}`;
}

function notFound(type: string, name: string): HttpAnswer {
  return armError(
    404,
    "ResourceNotFound",
    `The Resource '${type}/${name}' under resource group '${SIM_RESOURCE_GROUP}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}

function unauthorized(code: string, message: string): HttpAnswer {
  const challenge = `Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="${message}"`;
  return armError(401, code, message, { "WWW-Authenticate": challenge });
}

/** Who is calling: the VM whose managed identity the bearer token is for. */
function authenticate(req: IncomingMessage, ctx: ArmContext): { vm: Vm; oid: string } | HttpAnswer {
  const header = req.headers.authorization;
  if (header === undefined) return unauthorized("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.");
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m)
    return unauthorized(
      "AuthenticationFailedInvalidHeader",
      "Authentication failed. The 'Authorization' header is provided in an invalid format.",
    );
  const check = ctx.tokens.verify(m[1], ARM_AUDIENCES);
  if (!check.ok)
    return check.reason === "expired"
      ? unauthorized("ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.")
      : unauthorized("InvalidAuthenticationToken", "The access token is invalid.");
  const vm = ctx.topology().vms.find((v) => vmResourceId(v.name).toLowerCase() === check.vmResourceId.toLowerCase());
  if (!vm) return unauthorized("InvalidAuthenticationToken", "The access token is invalid.");
  return { vm, oid: check.oid };
}

/** The action a request needs, for 403's message. */
function actionOf(method: string, segments: string[]): string {
  if (match(segments, ROUTES.vm)) return "Microsoft.Compute/virtualMachines/read";
  if (match(segments, ROUTES.operation)) return "Microsoft.Network/locations/operations/read";
  return method === "PUT" ? "Microsoft.Network/networkInterfaces/write" : "Microsoft.Network/networkInterfaces/read";
}

export function armRoute(ctx: ArmContext): HttpRoute {
  const limiter = new SlidingWindowLimiter(60_000);
  return (req, url, _source, body) => {
    const requestId = randomUUID();
    const answer = route(req, url, body, ctx, limiter);
    answer.headers = {
      "x-ms-request-id": requestId,
      "x-ms-correlation-request-id": String(req.headers["x-ms-correlation-request-id"] ?? requestId),
      ...answer.headers,
    };
    return answer;
  };
}

function route(req: IncomingMessage, url: URL, body: string, ctx: ArmContext, limiter: SlidingWindowLimiter): HttpAnswer {
  const method = req.method ?? "GET";
  const segments = url.pathname.split("/").filter((s) => s !== "");
  const caller = authenticate(req, ctx);
  if ("status" in caller) return caller;
  const knobs = ctx.knobs();
  if (knobs.callsPerMinute !== undefined && !limiter.allow(caller.oid, knobs.callsPerMinute)) {
    const wait = Math.max(1, Math.ceil(limiter.retryAfterMs(caller.oid, knobs.callsPerMinute) / 1000));
    return armError(
      429,
      "TooManyRequests",
      `The request is being throttled as the limit has been reached for operation type - ${method === "GET" ? "Read" : "Write"}. For more information, see - https://aka.ms/srpthrottlinglimits`,
      { "Retry-After": String(wait) },
    );
  }
  const apiVersion = url.searchParams.get("api-version");
  if (apiVersion === null)
    return armError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.");
  if (!API_VERSION.test(apiVersion))
    return armError(
      400,
      "InvalidApiVersionParameter",
      `The api-version '${apiVersion}' is invalid. The supported versions are '2024-05-01'.`,
    );
  if (ctx.vmKnobs(caller.vm.name).role === false) {
    const oid = caller.oid;
    return armError(
      403,
      "AuthorizationFailed",
      `The client '${oid}' with object id '${oid}' does not have authorization to perform action '${actionOf(method, segments)}' over scope '${url.pathname}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  }
  if (method === "PUT" && knobs.writeStatus !== undefined)
    return armFault(knobs.writeStatus, `simulated fault (HTTP ${knobs.writeStatus})`);

  const op = match(segments, ROUTES.operation);
  if (op) {
    const [sub, , id] = op;
    if (sub.toLowerCase() !== SIM_SUBSCRIPTION_ID)
      return armError(404, "SubscriptionNotFound", `The subscription '${sub}' could not be found.`);
    if (method !== "GET") return methodNotAllowed(method);
    const found = ctx.operations.get(id);
    if (!found) return armError(404, "OperationNotFound", `Operation ${id} was not found.`);
    const status = {
      name: found.id,
      status: found.status,
      startTime: found.startTime,
      ...(found.endTime ? { endTime: found.endTime } : {}),
      ...(found.error ? { error: { code: found.error.code, message: found.error.message } } : {}),
    };
    return json(200, status, found.status === "InProgress" ? { "Retry-After": POLL_AFTER_S } : {});
  }

  const scoped = [ROUTES.vm, ROUTES.nic, ROUTES.ipConfigs, ROUTES.ipConfig].map((p) => match(segments, p));
  const captured = scoped.find((c) => c !== undefined);
  if (!captured) return armError(404, "NotFound", `No HTTP resource was found that matches the request URI '${url.pathname}'.`);
  const [sub, rg, name, ipcName] = captured;
  if (sub.toLowerCase() !== SIM_SUBSCRIPTION_ID)
    return armError(404, "SubscriptionNotFound", `The subscription '${sub}' could not be found.`);
  if (rg.toLowerCase() !== SIM_RESOURCE_GROUP) return armError(404, "ResourceGroupNotFound", `Resource group '${rg}' could not be found.`);
  const topo = ctx.topology();

  if (scoped[0]) {
    const vm = topo.vms.find((v) => v.name.toLowerCase() === name.toLowerCase());
    if (!vm) return notFound("Microsoft.Compute/virtualMachines", name);
    if (method !== "GET") return methodNotAllowed(method);
    return json(200, armVmDocument(vm, ctx.vmKnobs(vm.name).identity !== false));
  }

  const found = topo.vms
    .flatMap((v) => nicsOf(v, topo).map((n) => ({ vm: v, nicView: n })))
    .find((x) => nicName(x.vm.name, x.nicView.index).toLowerCase() === name.toLowerCase());
  if (!found) return notFound("Microsoft.Network/networkInterfaces", name);
  const { vm, nicView } = found;
  const running = ctx.operations.runningOn(vm.name, nicView.index);
  // While an operation runs, ARM shows what it will make, "Updating".
  const nic = running
    ? armNicDocument(vm.name, { ...nicView, secondaries: running.secondaries }, "Updating")
    : armNicDocument(vm.name, nicView, "Succeeded");
  const ipConfigurations = (nic.properties as { ipConfigurations: { name: string }[] }).ipConfigurations;
  if (scoped[2] || scoped[3]) {
    if (method !== "GET") return methodNotAllowed(method);
    if (scoped[2]) return json(200, { value: ipConfigurations });
    const ipc = ipConfigurations.find((c) => c.name.toLowerCase() === ipcName.toLowerCase());
    return ipc
      ? json(200, ipc)
      : notFound(`Microsoft.Network/networkInterfaces/${nicName(vm.name, nicView.index)}/ipConfigurations`, ipcName);
  }
  if (method === "GET") return json(200, nic);
  if (method !== "PUT") return methodNotAllowed(method);
  return putNic(req, body, vm, nicView, nic.etag as string, running, apiVersion, ctx, topo);
}

function methodNotAllowed(method: string): HttpAnswer {
  return armError(405, "MethodNotAllowed", `The requested resource does not support http method '${method}'.`);
}

function putNic(
  req: IncomingMessage,
  body: string,
  vm: Vm,
  nicView: NicView,
  etag: string,
  running: NicOperation | undefined,
  apiVersion: string,
  ctx: ArmContext,
  topo: Topology,
): HttpAnswer {
  if (running)
    return armError(
      409,
      "AnotherOperationInProgress",
      `Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: ${operationUrl(running, apiVersion)}.`,
    );
  const ifMatch = req.headers["if-match"];
  if (ifMatch !== undefined && ifMatch !== "*" && ifMatch !== etag)
    return armError(
      412,
      "PreconditionFailed",
      `The condition specified using HTTP conditional header(s) is not met for ${nicId(vm.name, nicView.index)}.`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    return armError(
      400,
      "InvalidRequestContent",
      `The request content was invalid and could not be deserialized: '${(err as Error).message}'.`,
    );
  }
  const plan = planNicPut(topo, vm, parsed, ctx.operations.heldAddresses(), nicView.index);
  if (!plan.ok) return fromError(plan.error);
  const op = ctx.operations.start(vm.name, plan.secondaries, nicView.index);
  const doc = armNicDocument(vm.name, { ...nicView, secondaries: plan.secondaries }, "Updating");
  return json(200, doc, { "Azure-AsyncOperation": operationUrl(op, apiVersion), "Retry-After": POLL_AFTER_S });
}
