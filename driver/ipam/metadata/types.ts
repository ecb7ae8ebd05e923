/**
 * Owns the NIC model: what the plugin knows about the VM's NICs, whichever
 * metadata source it came from (IMDS, the wireserver, or a static file). Addresses are dotted IPv4
 * or canonical IPv6 strings ("fd00:db8:deca::4"); subnets are canonical CIDRs
 * ("10.0.0.0/24", "fd00:db8:deca::/64"); MACs are lower case with colons
 * ("00:0d:3a:f8:a1:b2"). A NIC's IPv6 subnets stand in `subnets` beside its
 * IPv4 ones, each with its own primary ipconfig (the NIC's primary IPv6 one).
 */
export interface IpConfig {
  address: string;
  isPrimary: boolean;
  /** Public IP reported for this ipconfig ("" when none or not reported). */
  publicIp: string;
}

export interface NicSubnet {
  cidr: string;
  ipConfigs: IpConfig[];
}

export interface NicInfo {
  mac: string;
  isPrimary: boolean;
  subnets: NicSubnet[];
  /**
   * The resource group IMDS names for the VM (the NIC's, unless it was made
   * in another one); absent when the source does not say (wireserver, file).
   */
  resourceGroup?: string;
}

/** Where NicInfo comes from: IMDS, the wireserver, a file, or "auto". */
export interface MetadataSource {
  /** A short name for logs and errors: "imds", "wireserver", "file:/path". */
  readonly name: string;
  /** Fetch the current NIC data; throws on network or format errors. */
  fetch(): Promise<NicInfo[]>;
}
