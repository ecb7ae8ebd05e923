/**
 * IPv6 ipconfigs from the three metadata sources: IMDS (addresses only, the
 * subnet is the /64 holding them), the wireserver's XML and the metadata
 * file (an IPSubnet with an IPv6 prefix). Each lands in NicInfo beside the
 * IPv4 subnets, in canonical spelling, and bad entries are refused naming the NIC.
 */
import assert from "node:assert/strict";
import { parseInterfacesJson } from "../../../../driver/ipam/metadata/file-source";
import { parseImdsNetwork } from "../../../../driver/ipam/metadata/imds-source";
import type { NicInfo } from "../../../../driver/ipam/metadata";
import { parseWireserverInterfaces } from "../../../../driver/ipam/metadata/wireserver-source";

const MAC = "00:0d:3a:f8:a1:b2";
const V4 = { cidr: "10.0.0.0/24", ipConfigs: [{ address: "10.0.0.4", isPrimary: true, publicIp: "" }] };
const config = (address: string, isPrimary = false, publicIp = "") => ({ address, isPrimary, publicIp });

/** The NIC every source below describes: 10.0.0.4, and fd00:db8:deca::4 (primary), ::5, ::6. */
const EXPECTED: NicInfo[] = [
  {
    mac: MAC,
    isPrimary: true,
    subnets: [
      V4,
      {
        cidr: "fd00:db8:deca::/64",
        ipConfigs: [config("fd00:db8:deca::4", true), config("fd00:db8:deca::5"), config("fd00:db8:deca::6")],
      },
    ],
  },
];

describe("IPv6 ipconfigs from IMDS", () => {
  const imds = (ipv6: unknown) =>
    JSON.stringify({
      interface: [
        {
          ipv4: { ipAddress: [{ privateIpAddress: "10.0.0.4", publicIpAddress: "" }], subnet: [{ address: "10.0.0.0", prefix: "24" }] },
          ...(ipv6 !== undefined && { ipv6 }),
          macAddress: "000D3AF8A1B2",
        },
      ],
    });
  const addresses = (...list: string[]) => ({ ipAddress: list.map((privateIpAddress) => ({ privateIpAddress, publicIpAddress: "" })) });

  it("puts them in the /64 that holds them, the first as the primary, in canonical spelling", () => {
    assert.deepEqual(parseImdsNetwork(imds(addresses("FD00:DB8:DECA::4", "fd00:0db8:deca:0000::5", "fd00:db8:deca:0:0:0:0:6"))), EXPECTED);
  });

  it("reads a NIC without IPv6 ipconfigs as before, with or without the ipv6 block", () => {
    const v4Only = [{ mac: MAC, isPrimary: true, subnets: [V4] }];
    assert.deepEqual(parseImdsNetwork(imds(addresses())), v4Only);
    assert.deepEqual(parseImdsNetwork(imds(undefined)), v4Only);
  });

  it("keeps an IPv6 public IP, and makes a second /64 for addresses outside the first", () => {
    const nics = parseImdsNetwork(
      imds({
        ipAddress: [
          { privateIpAddress: "fd00:db8:deca::4", publicIpAddress: "2001:DB8::7" },
          { privateIpAddress: "fd00:db8:beef::5", publicIpAddress: "" },
        ],
      }),
    );
    assert.deepEqual(nics[0].subnets.slice(1), [
      { cidr: "fd00:db8:deca::/64", ipConfigs: [config("fd00:db8:deca::4", true, "2001:db8::7")] },
      { cidr: "fd00:db8:beef::/64", ipConfigs: [config("fd00:db8:beef::5")] },
    ]);
  });

  it("refuses malformed addresses, IPv4 among them, zones and duplicates in any spelling", () => {
    for (const bad of ["fd00::zz", "10.0.0.5", "fe80::1%eth0", "fd00::1/64", "::ffff:10.0.0.5"]) {
      assert.throws(
        () => parseImdsNetwork(imds(addresses("fd00:db8:deca::4", bad))),
        (err: Error) =>
          err.name === "MetadataSourceError" &&
          err.message ===
            `imds: malformed data: interface[0].ipv6.ipAddress[1].privateIpAddress: not an IPv6 address (got ${JSON.stringify(bad)})`,
        bad,
      );
    }
    assert.throws(
      () => parseImdsNetwork(imds(addresses("fd00:db8:deca::4", "fd00:db8:deca::5", "FD00:DB8:DECA::0005"))),
      /^MetadataSourceError: imds: interface 00:0d:3a:f8:a1:b2: fd00:db8:deca::5 is listed twice$/,
    );
  });
});

describe("IPv6 ipconfigs from the wireserver", () => {
  const xml = (v6Subnet: string) =>
    `<Interfaces><Interface MacAddress="000D3AF8A1B2" IsPrimary="true">` +
    `<IPSubnet Prefix="10.0.0.0/24"><IPAddress Address="10.0.0.4" IsPrimary="true"/></IPSubnet>${v6Subnet}</Interface></Interfaces>`;

  it("reads an IPSubnet with an IPv6 prefix beside the IPv4 one, canonical, the primary as flagged", () => {
    const body = xml(
      `<IPSubnet Prefix="FD00:DB8:DECA:0::/64"><IPAddress Address="fd00:db8:deca::5" IsPrimary="false"/>` +
        `<IPAddress Address="FD00:DB8:DECA::4" IsPrimary="true"/><IPAddress Address="fd00:db8:deca::0006" IsPrimary="false"/></IPSubnet>`,
    );
    const nics = parseWireserverInterfaces(body);
    assert.deepEqual(nics[0].subnets[1], {
      cidr: "fd00:db8:deca::/64",
      ipConfigs: [config("fd00:db8:deca::5"), config("fd00:db8:deca::4", true), config("fd00:db8:deca::6")],
    });
  });

  it("takes the first IPv6 address as primary when none is flagged, although the IPv4 one is", () => {
    const body = xml(
      `<IPSubnet Prefix="fd00:db8:deca::/64"><IPAddress Address="fd00:db8:deca::4" IsPrimary="false"/>` +
        `<IPAddress Address="fd00:db8:deca::5" IsPrimary="false"/><IPAddress Address="fd00:db8:deca::6" IsPrimary="false"/></IPSubnet>`,
    );
    assert.deepEqual(parseWireserverInterfaces(body), EXPECTED);
  });

  it("refuses an IPv6 address outside its prefix, listed twice, or malformed, and a bad prefix", () => {
    const subnet = (...addresses: string[]) =>
      xml(`<IPSubnet Prefix="fd00:db8:deca::/64">${addresses.map((a) => `<IPAddress Address="${a}"/>`).join("")}</IPSubnet>`);
    assert.throws(
      () => parseWireserverInterfaces(subnet("fd00:db8:deca::4", "fd00:db8:beef::5")),
      /^MetadataSourceError: wireserver: interface 00:0d:3a:f8:a1:b2: fd00:db8:beef::5 is outside its subnet fd00:db8:deca::\/64$/,
    );
    assert.throws(
      () => parseWireserverInterfaces(subnet("fd00:db8:deca::4", "10.0.0.5")),
      /interface 00:0d:3a:f8:a1:b2: 10\.0\.0\.5 is outside its subnet fd00:db8:deca::\/64$/,
    );
    assert.throws(
      () => parseWireserverInterfaces(subnet("fd00:db8:deca::4", "FD00:DB8:DECA::4")),
      /^MetadataSourceError: wireserver: interface 00:0d:3a:f8:a1:b2: fd00:db8:deca::4 is listed twice$/,
    );
    assert.throws(
      () => parseWireserverInterfaces(subnet("fd00:db8:deca::4", "fd00::g")),
      /IPSubnet\[1\]\.IPAddress\[1\]\.Address: Invalid IPv6 address \(got "fd00::g"\)/,
    );
    assert.throws(
      () => parseWireserverInterfaces(xml(`<IPSubnet Prefix="fd00:db8:deca::/129"/>`)),
      /IPSubnet\[1\]\.Prefix: not an IPv6 CIDR \(got "fd00:db8:deca::\/129"\)/,
    );
  });
});

describe("IPv6 ipconfigs from the metadata file", () => {
  const file = (v6: { Prefix: string; IPAddresses: { Address: string; IsPrimary?: boolean }[] }) =>
    JSON.stringify({
      Interfaces: [
        {
          MacAddress: "00-0D-3A-F8-A1-B2",
          IsPrimary: true,
          IPSubnets: [{ Prefix: "10.0.0.0/24", IPAddresses: [{ Address: "10.0.0.4", IsPrimary: true }] }, v6],
        },
      ],
    });

  it("reads an IPv6 IPSubnet the way the wireserver's is read", () => {
    const text = file({
      Prefix: "fd00:db8:deca::/64",
      IPAddresses: [{ Address: "fd00:db8:deca::4", IsPrimary: true }, { Address: "FD00:DB8:DECA::5" }, { Address: "fd00:db8:deca::6" }],
    });
    assert.deepEqual(parseInterfacesJson(text, "file:/x"), EXPECTED);
  });

  it("refuses an address outside the prefix and a duplicate, naming the NIC", () => {
    assert.throws(
      () => parseInterfacesJson(file({ Prefix: "fd00:db8:deca::/64", IPAddresses: [{ Address: "fd00:db8:deca:1::4" }] }), "file:/x"),
      /^MetadataSourceError: file:\/x: interface 00:0d:3a:f8:a1:b2: fd00:db8:deca:1::4 is outside its subnet fd00:db8:deca::\/64$/,
    );
    assert.throws(
      () =>
        parseInterfacesJson(
          file({ Prefix: "fd00:db8:deca::/64", IPAddresses: [{ Address: "fd00:db8:deca::4" }, { Address: "fd00:db8:deca:0::4" }] }),
          "file:/x",
        ),
      /^MetadataSourceError: file:\/x: interface 00:0d:3a:f8:a1:b2: fd00:db8:deca::4 is listed twice$/,
    );
    assert.throws(
      () => parseInterfacesJson(file({ Prefix: "fd00:db8:deca::/64", IPAddresses: [{ Address: "fd00:db8:deca::4::1" }] }), "file:/x"),
      /Address: Invalid IPv6 address \(got "fd00:db8:deca::4::1"\)/,
    );
  });
});
