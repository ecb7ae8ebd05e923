/** Tests of the request schemas and how their errors describe bad values. */
import assert from "node:assert/strict";
import { PluginError } from "../../../driver/errors";
import { decodeRequest, parseJsonBody } from "../../../driver/protocol/decode";
import { describeValue } from "../../../driver/protocol/display";
import * as schemas from "../../../driver/protocol/schemas";

const M = "IpamDriver.ReleaseAddress";

function releaseAddressError(address: unknown): string | undefined {
  try {
    decodeRequest(M, schemas.releaseAddressRequest, { PoolID: "p", Address: address });
    return undefined;
  } catch (err) {
    assert.ok(err instanceof PluginError);
    assert.equal(err.code, "invalid");
    return err.message;
  }
}

function poolError(pool: string, v6: boolean): string | undefined {
  try {
    decodeRequest("IpamDriver.RequestPool", schemas.requestPoolRequest, { AddressSpace: "s", Pool: pool, SubPool: "", V6: v6 });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

describe("protocol schemas", () => {
  describe("plain IP addresses", () => {
    for (const ok of ["10.1.0.7", "0.0.0.0", "fd00::7", "::", "::ffff:10.1.0.7", "FD00::7"]) {
      it(`accepts ${ok}`, () => assert.equal(releaseAddressError(ok), undefined));
    }
    for (const bad of ["010.1.0.7", "10.1.0.256", "10.1.0", "10.1.0.7/32", " 10.1.0.7", "fe80::1%eth0", "fd00:::7", "", "[fd00::7]"]) {
      it(`rejects ${JSON.stringify(bad)}`, () => {
        const err = releaseAddressError(bad);
        assert.equal(
          err,
          `invalid ${M} request: Address: must be an IPv4 or IPv6 address without prefix length, such as 10.1.0.7 or fd00::7 (got ${describeValue(bad)})`,
        );
      });
    }
  });

  describe("CIDRs", () => {
    for (const [pool, v6] of [
      ["10.1.0.0/24", false],
      ["0.0.0.0/0", false],
      ["10.1.0.1/32", false],
      ["fd00::/64", true],
      ["fd00::1/128", true],
    ] as const) {
      it(`accepts ${pool}`, () => assert.equal(poolError(pool, v6), undefined));
    }
    for (const [pool, v6] of [
      ["10.1.0.0/024", false],
      ["10.1.0.0/", false],
      ["10.1.0.0/24/1", false],
      ["fd00::/129", true],
      ["fd00::/064", true],
      ["fe80::%eth0/64", true],
      ["10.1.0.0", false],
    ] as const) {
      it(`rejects ${pool}`, () => {
        const err = poolError(pool, v6);
        assert.equal(
          err,
          `invalid IpamDriver.RequestPool request: Pool: must be empty or an IPv4 or IPv6 CIDR such as 10.1.0.0/24 or fd00::/64 (got "${pool}")`,
        );
      });
    }
  });

  it("parses an empty body as {} and rejects trailing garbage", () => {
    assert.deepEqual(parseJsonBody(M, Buffer.alloc(0)), {});
    assert.deepEqual(parseJsonBody(M, Buffer.from('{"a":1}\n')), { a: 1 });
    assert.throws(
      () => parseJsonBody(M, Buffer.from('{"a":1} x')),
      (err: Error) => {
        assert.ok(err instanceof PluginError);
        assert.match(err.message, /^invalid IpamDriver\.ReleaseAddress request: body: is not valid JSON \(/);
        return true;
      },
    );
  });

  it("cleans the JSON parser's message, which quotes the input", () => {
    assert.throws(
      () => parseJsonBody(M, Buffer.from("nope\u001b[31m\n")),
      (err: Error) => {
        assert.ok(err.message.includes("body: is not valid JSON"), err.message);
        assert.ok(
          [...err.message].every((c) => c >= " "),
          err.message,
        );
        return true;
      },
    );
  });

  for (const key of ["__proto__", "constructor", "prototype"]) {
    it(`refuses a map key named ${key} instead of dropping it or letting it reach the drivers`, () => {
      const body = JSON.parse(`{"PoolID":"p","Address":"","Options":{"${key}":"x","k":"v"}}`) as unknown;
      assert.throws(
        () => decodeRequest("IpamDriver.RequestAddress", schemas.requestAddressRequest, body),
        (err: Error) => {
          assert.equal(
            err.message,
            `invalid IpamDriver.RequestAddress request: Options.${key}: key must not be "${key}", a name JavaScript reserves`,
          );
          return true;
        },
      );
    });
  }

  it("keeps every other key of a map, with a plain prototype", () => {
    const body = JSON.parse(`{"PoolID":"p","Address":"","Options":{"toString":"x","k":"v"}}`) as unknown;
    const req = decodeRequest("IpamDriver.RequestAddress", schemas.requestAddressRequest, body);
    assert.deepEqual(Object.keys(req.Options), ["toString", "k"]);
    assert.equal(Object.getPrototypeOf(req.Options), Object.prototype);
  });

  it("refuses an array where an object belongs, at any depth", () => {
    const body = { NetworkID: "n".repeat(64), EndpointID: "e".repeat(64), Interface: [], Options: {} };
    assert.throws(
      () => decodeRequest("NetworkDriver.CreateEndpoint", schemas.createEndpointRequest, body),
      /^PluginError: invalid NetworkDriver.CreateEndpoint request: Interface: must be an object \(got an array\)$|Interface: must be an object \(got an array\)$/,
    );
  });

  describe("display helpers", () => {
    it("describeValue names non-string types without dumping them", () => {
      assert.equal(describeValue({ a: "secret" }), "an object");
      assert.equal(describeValue([1]), "an array");
      assert.equal(describeValue(null), "null");
      assert.equal(describeValue(false), "false");
    });
  });
});
