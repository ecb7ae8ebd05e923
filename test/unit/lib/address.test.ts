/** Tests of lib/address: the one codec for IPv4 addresses, CIDRs and MACs, and Azure's subnet rules. */
import assert from "node:assert/strict";
import { Address4 } from "ip-address";
import {
  addressInCidr,
  canonicalCidr,
  type Cidr,
  cidrContains,
  cidrWithin,
  compareIpv4,
  containerMac,
  formatCidr,
  formatIpv4,
  isAzureReserved,
  macFromBytes,
  normaliseMac,
  parseCidrAsWritten,
  parseCidrNetwork,
  parseIpv4,
  subnetGateway,
  summariseAddresses,
} from "../../../driver/lib/address";

describe("lib/address", () => {
  describe("IPv4 addresses", () => {
    it("parses strictly and round-trips, including the top of the range", () => {
      assert.equal(parseIpv4("10.0.0.4"), 167772164);
      assert.equal(parseIpv4("0.0.0.0"), 0);
      assert.equal(formatIpv4(parseIpv4("255.255.255.255") as number), "255.255.255.255");
      for (const bad of ["10.0.0", "10.0.0.256", "10.0.0.04", "a.b.c.d", "10.0.0.4.5", ""]) {
        assert.equal(parseIpv4(bad), undefined, bad);
      }
    });

    it("refuses leading zeros, whitespace, signs, other bases, a prefix and non-strings", () => {
      const bad = [
        "010.0.0.1",
        "00.0.0.0",
        "1.2.3.04",
        " 10.0.0.1",
        "10.0.0.1 ",
        "10.0.0.1\n",
        "10.0.0.1/32",
        "+1.2.3.4",
        "0x1.2.3.4",
        "1e1.2.3.4",
        "1.2.3.-4",
        "\uff11.2.3.4",
        "1..2.3",
        "1.2.3.4.",
      ];
      for (const text of bad) assert.equal(parseIpv4(text), undefined, JSON.stringify(text));
      for (const value of [undefined, null, 167772164, ["10.0.0.1"], {}]) assert.equal(parseIpv4(value), undefined);
    });

    it("accepts exactly the dotted quads ip-address's Address4 accepts", () => {
      const octets = [
        "0",
        "1",
        "9",
        "00",
        "01",
        "10",
        "99",
        "010",
        "100",
        "199",
        "200",
        "249",
        "250",
        "255",
        "256",
        "300",
        "1000",
        "-1",
        "+1",
        " 1",
        "1 ",
        "",
        "a",
        "0x1",
        "1e1",
      ];
      let checked = 0;
      for (const a of octets) {
        for (const b of ["0", "255", a]) {
          for (const text of [`${a}.${b}.0.1`, `10.${a}.${b}.7`, `1.2.3.${a}`, `${a}.${a}.${a}.${a}`, `${a}.${b}.0`, `${a}.${b}.0.1.2`]) {
            const reference = !text.includes("/") && Address4.isValid(text);
            assert.equal(parseIpv4(text) !== undefined, reference, JSON.stringify(text));
            if (reference) assert.equal(formatIpv4(parseIpv4(text) as number), new Address4(text).correctForm());
            checked++;
          }
        }
      }
      assert.ok(checked > 400);
    });

    it("compares numerically, not as text", () => {
      assert.ok(compareIpv4("10.0.0.9", "10.0.0.10") < 0);
      assert.deepEqual(["10.0.1.2", "10.0.0.30", "10.0.0.4"].sort(compareIpv4), ["10.0.0.4", "10.0.0.30", "10.0.1.2"]);
    });
  });

  describe("CIDRs", () => {
    it("keeps the address as written, or gives the network with host bits cleared", () => {
      assert.deepEqual(parseCidrAsWritten("10.1.2.3/16"), { address: parseIpv4("10.1.2.3"), prefix: 16 });
      assert.deepEqual(parseCidrNetwork("10.1.2.3/16"), { network: parseIpv4("10.1.0.0"), prefix: 16 });
      assert.equal(formatCidr(parseCidrNetwork("192.168.1.130/25")!), "192.168.1.128/25");
      assert.deepEqual(parseCidrNetwork("10.0.0.1/0"), { network: 0, prefix: 0 });
      assert.deepEqual(parseCidrNetwork("10.0.0.1/32"), { network: parseIpv4("10.0.0.1"), prefix: 32 });
    });

    it("accepts prefix lengths 0-32 only, without leading zeros, and nothing around them", () => {
      for (const bad of [
        "10.0.0.0/33",
        "10.0.0.0/024",
        "10.0.0.0/00",
        "10.0.0.0/03",
        "10.0.0.0/",
        "10.0.0.0",
        "10.0.0.0/-1",
        "10.0.0.0/+3",
        "10.0.0.0/2/4",
        " 10.0.0.0/24",
        "10.0.0.0/24 ",
        "10.0.0.0 /24",
        "10.0.0.0/ 24",
        "010.0.0.0/24",
        24,
      ]) {
        assert.equal(parseCidrAsWritten(bad), undefined, JSON.stringify(bad));
        assert.equal(parseCidrNetwork(bad), undefined, JSON.stringify(bad));
      }
    });

    it("accepts the CIDRs Address4 accepts, less prefix lengths with a leading zero", () => {
      for (const prefix of ["0", "00", "01", "1", "9", "09", "10", "24", "32", "33", "99", "100", "024", "", "-1", "+1", " 1", "a"]) {
        for (const address of ["10.0.0.0", "10.1.2.3", "255.255.255.255", "010.0.0.0", "10.0.0"]) {
          const text = `${address}/${prefix}`;
          const reference = Address4.isValid(text) && !/^0\d/.test(prefix);
          assert.equal(parseCidrAsWritten(text) !== undefined, reference, text);
          assert.equal(parseCidrNetwork(text) !== undefined, reference, text);
          if (reference) {
            const a = new Address4(text);
            assert.equal(parseCidrAsWritten(text)?.prefix, a.subnetMask, text);
            assert.equal(formatCidr(parseCidrNetwork(text) as Cidr), `${a.startAddress().correctForm()}/${a.subnetMask}`, text);
          }
        }
      }
    });

    it("canonicalises CIDRs and checks containment", () => {
      const canonical: [string, string | undefined][] = [
        ["10.0.0.77/24", "10.0.0.0/24"],
        [" 192.168.1.130/25 ", "192.168.1.128/25"],
        ["0.0.0.0/0", "0.0.0.0/0"],
        ["10.0.0.0/33", undefined],
        ["10.0.0.0/024", undefined],
        ["10.0.0.0", undefined],
      ];
      for (const [text, want] of canonical) assert.equal(canonicalCidr(text), want, JSON.stringify(text));
      assert.ok(cidrWithin(parseCidrNetwork("10.0.0.16/28")!, parseCidrNetwork("10.0.0.0/24")!));
      assert.ok(!cidrWithin(parseCidrNetwork("10.0.0.0/23")!, parseCidrNetwork("10.0.0.0/24")!));
    });

    it("says whether an address is in a CIDR, first and last included", () => {
      const subnet = parseCidrNetwork("10.0.0.0/24")!;
      assert.ok(cidrContains(subnet, parseIpv4("10.0.0.0")!));
      assert.ok(cidrContains(subnet, parseIpv4("10.0.0.255")!));
      assert.ok(!cidrContains(subnet, parseIpv4("10.0.1.0")!));
      assert.ok(addressInCidr("10.0.0.0/24", "10.0.0.7"));
      assert.ok(addressInCidr("10.0.0.99/24", "10.0.0.7"), "host bits of the CIDR do not matter");
      assert.ok(addressInCidr("0.0.0.0/0", "255.255.255.255"));
      assert.ok(!addressInCidr("10.0.0.0/24", "10.0.1.7"));
      assert.ok(!addressInCidr("10.0.0.0/24", "10.0.0.07"));
      assert.ok(!addressInCidr("not a cidr", "10.0.0.7"));
    });
  });

  describe("Azure's subnet rules", () => {
    it("puts the gateway at the network address + 1", () => {
      assert.equal(subnetGateway(parseCidrNetwork("10.0.0.0/24")!), "10.0.0.1");
      assert.equal(subnetGateway(parseCidrNetwork("10.1.2.64/26")!), "10.1.2.65");
    });

    it("knows Azure's reserved addresses", () => {
      const subnet = parseCidrNetwork("10.0.0.0/24")!;
      assert.deepEqual(
        ["10.0.0.0", "10.0.0.3", "10.0.0.4", "10.0.0.254", "10.0.0.255"].map((a) => isAzureReserved(subnet, parseIpv4(a)!)),
        [true, true, false, false, true],
      );
    });

    it("summarises address lists as ranges", () => {
      assert.equal(summariseAddresses(["10.0.0.12", "10.0.0.10", "10.0.0.11", "10.0.0.30"]), "10.0.0.10-10.0.0.12, 10.0.0.30");
      assert.equal(summariseAddresses([]), "");
      assert.equal(summariseAddresses(["10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.7"], 2), "10.0.0.1, 10.0.0.3 and 2 more ranges");
    });
  });

  describe("MACs", () => {
    it("normalises MACs from metadata spellings", () => {
      for (const spelling of ["000D3AF8A1B2", "00-0D-3A-F8-A1-B2", "00:0d:3a:f8:a1:b2", "00:0D:3A:F8:A1:B2"]) {
        assert.equal(normaliseMac(spelling), "00:0d:3a:f8:a1:b2", spelling);
      }
      // Mixed separators and the wrong length are not MACs.
      assert.equal(normaliseMac("00:0d-3a:f8:a1:b2"), undefined);
      assert.equal(normaliseMac("000D3AF8A1"), undefined);
    });

    it("refuses padding, other lengths, stray characters and non-strings", () => {
      for (const bad of [
        " 00:0d:3a:f8:a1:b2",
        "00:0d:3a:f8:a1:b2\n",
        "00:0d:3a:f8:a1:b2:c3",
        "0:0d:3a:f8:a1:b2",
        "00.0d.3a.f8.a1.b2",
        "00:0d:3a:f8:a1:g2",
        "",
      ]) {
        assert.equal(normaliseMac(bad), undefined, JSON.stringify(bad));
      }
      for (const value of [undefined, null, 12, {}]) assert.equal(normaliseMac(value), undefined);
    });

    it("writes bytes in the same spelling", () => {
      assert.equal(macFromBytes([0x02, 0x42, 0x0a, 0x00, 0x00, 0x05]), "02:42:0a:00:00:05");
      assert.equal(macFromBytes(Buffer.from("000d3af8a1b2", "hex")), normaliseMac("000D3AF8A1B2"));
    });

    it("gives a container address one locally administered unicast MAC of its own", () => {
      assert.equal(containerMac("10.0.0.7"), "02:a2:0a:00:00:07");
      assert.equal(containerMac("255.254.253.252"), "02:a2:ff:fe:fd:fc");
      assert.notEqual(containerMac("10.0.1.7"), containerMac("10.0.0.7"));
      const first = parseInt(containerMac("192.168.1.1").slice(0, 2), 16);
      assert.equal(first & 0b11, 0b10, "locally administered (bit 1), unicast (bit 0 clear)");
      assert.throws(() => containerMac("10.0.0"), /not an IPv4 address/);
    });
  });
});
