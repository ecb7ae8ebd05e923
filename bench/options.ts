/**
 * Sizes of each measurement. Full mode is what the issue asks for; quick mode
 * keeps every measurement and check but shrinks the counts so CI finishes it
 * in a few minutes on two cores.
 */
export const PHASES = ["footprint", "docker-run", "attach", "control-plane", "dataplane", "nic2", "ipv6", "arm-pool"] as const;
export type Phase = (typeof PHASES)[number];

export interface BenchOptions {
  quick: boolean;
  /** Record CPU profiles of vm1's plugin: one cold start, and the control-plane phase. */
  profile: boolean;
  phases: Set<Phase>;
  /** Cold starts of the plugin (and of the bare-node baseline), interleaved. */
  coldStarts: number;
  /** `docker run --rm` per network. */
  dockerRuns: number;
  /** Containers started on one VM per network. */
  attachCount: number;
  attachParallel: number;
  /** Rounds of attach per network (azure-vnet and bridge alternate ABBA). */
  attachRounds: number;
  /** Endpoint lifecycles per configuration, split into interleaved blocks. */
  lifecyclesC1: number;
  lifecyclesC16: number;
  lifecyclesPresent: number;
  /** Endpoints kept in place for the "many endpoints present" measurement. */
  presentEndpoints: number;
  blocks: number;
  iperfSeconds: number;
  /** Rounds of iperf3 and ping per path (host and container alternate). */
  dataplaneRounds: number;
  pingsPerRound: number;
}

export function benchOptions(argv: { quick?: boolean; profile?: boolean; only?: string }): BenchOptions {
  const phases = new Set<Phase>(PHASES);
  if (argv.only) {
    phases.clear();
    for (const p of argv.only
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      if (!(PHASES as readonly string[]).includes(p)) throw new Error(`unknown phase "${p}"; phases are ${PHASES.join(", ")}`);
      phases.add(p as Phase);
    }
  }
  const common = { profile: Boolean(argv.profile), phases, attachParallel: 8 };
  if (argv.quick) {
    return {
      ...common,
      quick: true,
      coldStarts: 3,
      dockerRuns: 5,
      attachCount: 24,
      attachRounds: 1,
      lifecyclesC1: 30,
      lifecyclesC16: 48,
      lifecyclesPresent: 20,
      presentEndpoints: 24,
      blocks: 2,
      iperfSeconds: 1,
      dataplaneRounds: 2,
      pingsPerRound: 10,
    };
  }
  return {
    ...common,
    quick: false,
    coldStarts: 7,
    dockerRuns: 25,
    attachCount: 250,
    attachRounds: 2,
    lifecyclesC1: 200,
    lifecyclesC16: 320,
    lifecyclesPresent: 120,
    presentEndpoints: 250,
    blocks: 4,
    iperfSeconds: 5,
    dataplaneRounds: 4,
    pingsPerRound: 30,
  };
}
