/** Owns the "auto" metadata source: IMDS, falling back to the wireserver. */
import { errorMessage } from "../../errors";
import { ImdsSource } from "./imds-source";
import type { MetadataSource, NicInfo } from "./types";
import { MetadataSourceError } from "./source-error";
import { WireserverSource } from "./wireserver-source";

/**
 * IMDS first (documented, carries public IPs), the wireserver when IMDS does
 * not answer (e.g. blocked by a host firewall or throttled). `name` says which
 * one answered last, so logs and `report()` show where the data came from.
 */
export class AutoSource implements MetadataSource {
  private answered: string | undefined;

  constructor(
    private readonly primary: MetadataSource = new ImdsSource(),
    private readonly fallback: MetadataSource = new WireserverSource(),
  ) {}

  get name(): string {
    return this.answered ? `auto(${this.answered})` : "auto";
  }

  async fetch(): Promise<NicInfo[]> {
    let firstError: unknown;
    try {
      const nics = await this.primary.fetch();
      this.answered = this.primary.name;
      return nics;
    } catch (err) {
      firstError = err;
    }
    try {
      const nics = await this.fallback.fetch();
      this.answered = this.fallback.name;
      return nics;
    } catch (err) {
      // Both messages already start with their source's name.
      throw new MetadataSourceError(
        `${this.primary.name} and ${this.fallback.name}`,
        `both failed: ${errorMessage(firstError)}; ${errorMessage(err)}`,
      );
    }
  }
}
