/**
 * Managed-identity access tokens: issued by IMDS's identity endpoint for the
 * asking VM, checked by Azure Resource Manager. They are JWTs shaped like
 * Entra ID's (aud, iss, oid, tid, xms_mirid, exp), signed with a key of the
 * simulator's (HMAC; real ones are RS256), so a token names its VM and
 * cannot be forged or used past its expiry.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SIM_TENANT_ID, identityClientId, principalId, vmResourceId } from "./arm-ids";

export const TOKEN_LIFETIME_S = 86_399;
const KEY_FILE = "token-signing.key";

/** What IMDS answers: every number a string, as Azure sends it. */
export interface TokenResponse {
  access_token: string;
  client_id: string;
  expires_in: string;
  expires_on: string;
  ext_expires_in: string;
  not_before: string;
  resource: string;
  token_type: "Bearer";
}

interface Claims {
  aud: string;
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  oid: string;
  sub: string;
  tid: string;
  appid: string;
  xms_mirid: string;
}

export type TokenCheck = { ok: true; vmResourceId: string; oid: string } | { ok: false; reason: "invalid" | "expired" };

const b64url = (data: Buffer | string) => Buffer.from(data).toString("base64url");

export class TokenIssuer {
  constructor(private readonly key: Buffer) {}

  /** The key lives in the state directory so tokens stay valid across platform restarts. */
  static forStateDir(stateDir: string): TokenIssuer {
    const file = join(stateDir, KEY_FILE);
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString("hex"), { mode: 0o600 });
    return new TokenIssuer(Buffer.from(readFileSync(file, "utf8").trim(), "hex"));
  }

  issue(vmName: string, resource: string, nowMs = Date.now()): TokenResponse {
    const now = Math.floor(nowMs / 1000);
    const claims: Claims = {
      aud: resource,
      iss: `https://sts.windows.net/${SIM_TENANT_ID}/`,
      iat: now,
      nbf: now,
      exp: now + TOKEN_LIFETIME_S,
      oid: principalId(vmName),
      sub: principalId(vmName),
      tid: SIM_TENANT_ID,
      appid: identityClientId(vmName),
      xms_mirid: vmResourceId(vmName),
    };
    const unsigned = `${b64url(JSON.stringify({ typ: "JWT", alg: "HS256" }))}.${b64url(JSON.stringify(claims))}`;
    return {
      access_token: `${unsigned}.${this.sign(unsigned)}`,
      client_id: identityClientId(vmName),
      expires_in: String(TOKEN_LIFETIME_S),
      expires_on: String(claims.exp),
      ext_expires_in: String(TOKEN_LIFETIME_S),
      not_before: String(claims.nbf),
      resource,
      token_type: "Bearer",
    };
  }

  /** Check signature, audience (ARM) and lifetime. */
  verify(token: string, audiences: string[], nowMs = Date.now()): TokenCheck {
    const parts = token.split(".");
    if (parts.length !== 3) return { ok: false, reason: "invalid" };
    const expected = Buffer.from(this.sign(`${parts[0]}.${parts[1]}`));
    const given = Buffer.from(parts[2]);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: "invalid" };
    let claims: Claims;
    try {
      claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as Claims;
    } catch {
      return { ok: false, reason: "invalid" };
    }
    if (!audiences.includes(claims.aud)) return { ok: false, reason: "invalid" };
    const now = nowMs / 1000;
    if (now >= claims.exp) return { ok: false, reason: "expired" };
    if (now < claims.nbf - 300) return { ok: false, reason: "invalid" };
    return { ok: true, vmResourceId: claims.xms_mirid, oid: claims.oid };
  }

  private sign(data: string): string {
    return createHmac("sha256", this.key).update(data).digest("base64url");
  }
}
