/**
 * The libnetwork remote NetworkDriver and IpamDriver wire types, exactly as
 * Docker sends and expects them (field names are case-exact).
 */

export interface IPAMData {
  AddressSpace: string;
  Pool: string;
  Gateway?: string;
  AuxAddresses?: Record<string, string>;
}

export interface CreateNetworkRequest {
  NetworkID: string;
  Options: Record<string, unknown>;
  IPv4Data: IPAMData[];
  IPv6Data: IPAMData[];
}

export interface NetworkRequest {
  NetworkID: string;
}

export interface EndpointInterface {
  Address: string;
  AddressIPv6: string;
  MacAddress: string;
}

export interface CreateEndpointRequest {
  NetworkID: string;
  EndpointID: string;
  Interface: EndpointInterface;
  Options: Record<string, unknown>;
}

export interface CreateEndpointResponse {
  Interface?: Partial<EndpointInterface>;
}

export interface EndpointRequest {
  NetworkID: string;
  EndpointID: string;
}

export interface JoinRequest {
  NetworkID: string;
  EndpointID: string;
  SandboxKey: string;
  Options: Record<string, unknown>;
}

export interface StaticRoute {
  Destination: string;
  RouteType: 0 | 1;
  NextHop?: string;
}

export interface JoinResponse {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway?: string;
  GatewayIPv6?: string;
  StaticRoutes?: StaticRoute[];
  DisableGatewayService?: boolean;
}

export interface ProgramExternalConnectivityRequest {
  NetworkID: string;
  EndpointID: string;
  Options: Record<string, unknown>;
}

export interface NetworkCapabilities {
  Scope: "local" | "global";
  ConnectivityScope: "local" | "global";
}

export interface IpamCapabilities {
  RequiresMACAddress: boolean;
  RequiresRequestReplay: boolean;
}

export interface AddressSpaces {
  LocalDefaultAddressSpace: string;
  GlobalDefaultAddressSpace: string;
}

export interface RequestPoolRequest {
  AddressSpace: string;
  Pool: string;
  SubPool: string;
  Options: Record<string, string>;
  V6: boolean;
}

export interface RequestPoolResponse {
  PoolID: string;
  Pool: string;
  Data?: Record<string, string>;
}

export interface RequestAddressRequest {
  PoolID: string;
  Address: string;
  Options: Record<string, string>;
}

export interface RequestAddressResponse {
  Address: string;
  Data?: Record<string, string>;
}

export interface ReleaseAddressRequest {
  PoolID: string;
  Address: string;
}

/** What the protocol layer calls for NetworkDriver.* requests (already validated). */
/**
 * What a driver call knows about its caller. `signal` aborts when Docker has
 * been told the call timed out: a call that grants something must then undo
 * it (or never commit it), because Docker will not use or release it.
 */
export interface CallContext {
  signal?: AbortSignal;
}

export interface NetworkDriver {
  getCapabilities(): NetworkCapabilities;
  createNetwork(req: CreateNetworkRequest): Promise<void>;
  deleteNetwork(req: NetworkRequest): Promise<void>;
  createEndpoint(req: CreateEndpointRequest, ctx?: CallContext): Promise<CreateEndpointResponse>;
  deleteEndpoint(req: EndpointRequest): Promise<void>;
  join(req: JoinRequest): Promise<JoinResponse>;
  leave(req: EndpointRequest): Promise<void>;
  endpointOperInfo(req: EndpointRequest): Promise<Record<string, unknown>>;
  programExternalConnectivity(req: ProgramExternalConnectivityRequest): Promise<void>;
  revokeExternalConnectivity(req: EndpointRequest): Promise<void>;
}

/** What the protocol layer calls for IpamDriver.* requests (already validated). */
export interface IpamDriver {
  getCapabilities(): IpamCapabilities;
  getDefaultAddressSpaces(): AddressSpaces;
  requestPool(req: RequestPoolRequest, ctx?: CallContext): Promise<RequestPoolResponse>;
  releasePool(req: { PoolID: string }): Promise<void>;
  requestAddress(req: RequestAddressRequest, ctx?: CallContext): Promise<RequestAddressResponse>;
  releaseAddress(req: ReleaseAddressRequest): Promise<void>;
}
