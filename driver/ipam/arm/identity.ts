/** Owns who the VM is (IMDS compute metadata) and its managed identity's ARM token, cached until shortly before it expires. */
import * as v from "valibot";
import { object } from "../../lib/valid";
import { httpGet } from "../metadata/http-get";
import { ArmError, noIdentity, type VmRef } from "./errors";
import { sendWithRetries, type Timing } from "./retry";

const COMPUTE_PATH = "/metadata/instance/compute?api-version=2021-02-01";
const TOKEN_PATH = "/metadata/identity/oauth2/token?api-version=2018-02-01";
/** A token is renewed this long before IMDS says it expires. */
const RENEW_BEFORE_MS = 5 * 60_000;
const IMDS_ATTEMPTS = 5;

const nonEmpty = v.pipe(v.string(), v.minLength(1));

const computeSchema = object({
  subscriptionId: nonEmpty,
  resourceGroupName: nonEmpty,
  name: nonEmpty,
  resourceId: v.optional(v.string()),
});

// IMDS writes the numbers as strings.
const tokenSchema = object({
  access_token: nonEmpty,
  expires_on: v.pipe(v.union([v.string(), v.number()]), v.transform(Number), v.number(), v.finite(), v.gtValue(0)),
  client_id: v.optional(v.string()),
});

export interface TokenSource {
  token(): Promise<string>;
  /** Forget the cached token (ARM answered 401). */
  invalidate(): void;
}

export interface ManagedIdentityOptions {
  /** IMDS base URL without a trailing slash (the imdsUrl setting). */
  imdsUrl: string;
  /** The token's audience: ARM's endpoint with a trailing slash. */
  resource: string;
  timing: Timing;
  timeoutMs?: number;
}

/** The VM's identity as IMDS gives it: compute metadata, and a token for ARM. */
export class ManagedIdentity implements TokenSource {
  private cached: { token: string; renewAt: number } | undefined;
  private inFlight: Promise<string> | undefined;
  private vmRef: VmRef | undefined;
  /** The identity's object id (from the token) or client id, for the role-assignment hint. */
  principal: string | undefined;
  private readonly timeoutMs: number;

  constructor(private readonly options: ManagedIdentityOptions) {
    this.timeoutMs = options.timeoutMs ?? 5_000;
  }

  /** Subscription, resource group and name of this VM; asked once. */
  async vm(): Promise<VmRef> {
    if (this.vmRef) return this.vmRef;
    const result = await this.imds(COMPUTE_PATH, "compute metadata");
    if (result.status !== 200)
      throw new ArmError(`IMDS compute metadata: HTTP ${result.status} ${result.body.slice(0, 200)}`, result.status, undefined);
    const parsed = v.safeParse(computeSchema, parseJson(result.body));
    if (!parsed.success) throw new ArmError("IMDS compute metadata lacks subscriptionId, resourceGroupName or name", 200, undefined);
    const c = parsed.output;
    const resourceId =
      c.resourceId ||
      `/subscriptions/${c.subscriptionId}/resourceGroups/${c.resourceGroupName}/providers/Microsoft.Compute/virtualMachines/${c.name}`;
    this.vmRef = { subscriptionId: c.subscriptionId, resourceGroupName: c.resourceGroupName, name: c.name, resourceId };
    return this.vmRef;
  }

  token(): Promise<string> {
    if (this.cached && this.options.timing.now() < this.cached.renewAt) return Promise.resolve(this.cached.token);
    this.inFlight ??= this.fetchToken().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  invalidate(): void {
    this.cached = undefined;
  }

  private async fetchToken(): Promise<string> {
    const path = `${TOKEN_PATH}&resource=${encodeURIComponent(this.options.resource)}`;
    const result = await this.imds(path, "managed identity token");
    if (result.status === 400 && /identity not found/i.test(result.body)) throw noIdentity(await this.vm(), describeBody(result.body));
    if (result.status !== 200) {
      throw new ArmError(
        `IMDS did not give a managed identity token: HTTP ${result.status} ${describeBody(result.body)}`,
        result.status,
        undefined,
      );
    }
    const parsed = v.safeParse(tokenSchema, parseJson(result.body));
    if (!parsed.success) throw new ArmError("IMDS's token answer lacks access_token or expires_on", 200, undefined);
    const { access_token: token, expires_on: expiresOn, client_id: clientId } = parsed.output;
    this.principal = tokenObjectId(token) ?? clientId ?? this.principal;
    const expiresAt = expiresOn * 1000;
    const now = this.options.timing.now();
    // A token shorter-lived than the margin is used for half its life.
    const renewAt = expiresAt - now > 2 * RENEW_BEFORE_MS ? expiresAt - RENEW_BEFORE_MS : now + (expiresAt - now) / 2;
    this.cached = { token, renewAt };
    return token;
  }

  private async imds(path: string, what: string) {
    const url = this.options.imdsUrl + path;
    try {
      return await sendWithRetries(
        () => httpGet(url, { headers: { Metadata: "true" }, timeoutMs: this.timeoutMs }),
        this.options.timing,
        IMDS_ATTEMPTS,
      );
    } catch (err) {
      throw new ArmError(`IMDS ${what} (GET ${url}) failed: ${(err as Error).message}`, 0, undefined);
    }
  }
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

function describeBody(body: string): string {
  const parsed = parseJson(body) as { error_description?: unknown } | undefined;
  if (typeof parsed?.error_description === "string") return parsed.error_description;
  return body.trim().replace(/\s+/g, " ").slice(0, 200);
}

/** The `oid` claim of a JWT, without verifying it (only used to word a hint). */
function tokenObjectId(token: string): string | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { oid?: unknown };
    return typeof claims.oid === "string" ? claims.oid : undefined;
  } catch {
    return undefined;
  }
}
