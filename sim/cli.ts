#!/usr/bin/env node
/**
 * npm run sim -- up [topology.json] | status [--json] | exec VM -- CMD... | down
 *                 | ipconfig add|remove VM IP [--public-ip IP] [--name NAME] [--nic N] | counters [--json]
 *                 | swarm ports FROM TO | swarm init MANAGER [WORKER...] | swarm leave VM...
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { ENGINES, Engine } from "./engines";
import { Simulator } from "./simulator";
import { loadTopology } from "./topology";
import { parseKnobs } from "./platform/knobs";
import { checkSwarmPorts, formSwarm, leaveSwarm } from "./swarm";

function fail(err: unknown): never {
  process.stderr.write(`sim: ${(err as Error).message}\n`);
  process.exit(1);
}

function printStatus(sim: Simulator, json: boolean): void {
  const st = sim.status();
  if (json) {
    process.stdout.write(`${JSON.stringify(st, null, 2)}\n`);
    return;
  }
  if (!st.up) {
    process.stdout.write("the simulator is down\n");
    return;
  }
  const rows = [["VM", "DOCKER_HOST", "DOCKERD", "ENGINE", "NIC", "MAC", "SUBNET", "PRIMARY", "SECONDARY IPCONFIGS"]];
  for (const vm of st.vms) {
    // One row per NIC; the VM's own columns on its first.
    for (const [i, nic] of vm.nics.entries()) {
      const pub = (ip: string) => (nic.publicIps[ip] ? `${ip}(${nic.publicIps[ip]})` : ip);
      const own = i === 0 ? [vm.name, vm.dockerHost, vm.running ? `up (pid ${vm.dockerdPid})` : "down", vm.engine] : ["", "", "", ""];
      rows.push([...own, nic.link, nic.mac, nic.subnet, pub(nic.primary), nic.secondaries.map(pub).join(",")]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i]))
        .join("  ")
        .trimEnd()}\n`,
    );
  process.stdout.write(
    st.registry ? `registry: ${st.registry} (insecure, plain HTTP)\n` : "registry: not running (run scripts/debian13-tools.sh)\n",
  );
  if (st.arm) process.stdout.write(`arm: https://${st.arm.host} (${st.arm.address}); CA ${st.arm.caFile} (in VMs ${st.arm.caFileInVm})\n`);
  if (st.upSeconds !== undefined) process.stdout.write(`up in ${st.upSeconds.toFixed(2)} s; state in ${st.dir}\n`);
}

/** "1" or "eth1" -> 1. */
function parseNicIndex(value: string): number {
  const m = /^(?:eth)?(\d)$/.exec(value);
  if (!m) throw new InvalidArgumentError("a NIC index (0, 1, 2) or link name (eth0, eth1, eth2)");
  return Number(m[1]);
}

async function main(): Promise<void> {
  const program = new Command("sim")
    .description("A simulated Azure VNet with real dockerd VMs, in network namespaces")
    .showHelpAfterError()
    .enablePositionalOptions();

  program
    .command("up [topology]")
    .description("bring the simulated network up (built-in topology unless a file is given)")
    .addOption(
      new Option("--engine <engine>", "Docker engine of VMs whose topology names none (default: AZSIM_ENGINE, else debian12)").choices(
        ENGINES,
      ),
    )
    .action(async (file: string | undefined, opts: { engine?: Engine }) => {
      const sim = new Simulator();
      await sim.up(loadTopology(file), { engine: opts.engine });
      printStatus(sim, false);
      process.stdout.write("use a VM: npm run sim -- exec vm1 -- docker ps\n");
    });

  program
    .command("status")
    .option("--json", "machine-readable output")
    .action((opts: { json?: boolean }) => printStatus(new Simulator(), Boolean(opts.json)));

  program
    .command("exec <vm> <command...>")
    .description("run a command in a VM (network and mount namespace, with its DOCKER_HOST)")
    .passThroughOptions()
    .action(async (vm: string, command: string[]) => {
      const sim = new Simulator();
      const [cmd, ...args] = command[0] === "--" ? command.slice(1) : command;
      const r = await sim.exec(vm, cmd, args, { allowFailure: true, timeoutMs: 600_000 });
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      process.exitCode = r.code;
    });

  program
    .command("down")
    .description("tear everything down (idempotent; also after a failed up)")
    .action(async () => {
      await new Simulator().down();
      process.stdout.write("the simulator is down\n");
    });

  const ipconfig = program.command("ipconfig").description("change a VM NIC's ipconfigs at run time");
  const nicOption = () =>
    new Option("--nic <index>", "the NIC: 0 for eth0 (the primary NIC), 1 for eth1 ... (default: by the address's subnet)").argParser(
      parseNicIndex,
    );
  ipconfig
    .command("add <vm> <address>")
    .option("--public-ip <ip>", "give the ipconfig a public IP (a public IPv6 for an IPv6 address)")
    .option("--name <name>", "its name in Azure Resource Manager (default ipconfig-A-B-C-D after the address)")
    .addOption(nicOption())
    .action(async (vm: string, address: string, opts: { publicIp?: string; name?: string; nic?: number }) =>
      new Simulator().addIpConfig(vm, address, opts.publicIp, opts.name, opts.nic),
    );
  ipconfig
    .command("remove <vm> <address>")
    .addOption(nicOption())
    .action(async (vm: string, address: string, opts: { nic?: number }) => new Simulator().removeIpConfig(vm, address, opts.nic));

  program
    .command("knobs <json>")
    .description(`platform fault knobs, e.g. '{"imds":{"status":500},"wireserver":{"down":true}}'; '{}' clears them`)
    .action((json: string) => new Simulator().setKnobs(parseKnobs(JSON.parse(json))));

  const swarm = program.command("swarm").description("a Docker swarm across the VMs (none unless asked for)");
  swarm
    .command("ports <from> <to>")
    .description("check the fabric passes swarm's ports from one VM's primary address to another's (before the swarm exists)")
    .action(async (from: string, to: string) => {
      const checks = await checkSwarmPorts(new Simulator(), from, to);
      for (const c of checks)
        process.stdout.write(`${c.port}/${c.proto}  ${c.seenAs ? `passes, seen from ${c.seenAs}` : `blocked: ${c.error ?? ""}`}\n`);
      if (checks.some((c) => !c.seenAs)) process.exitCode = 1;
    });
  swarm
    .command("init <manager> [workers...]")
    .description("docker swarm init on the manager (its primary address), join on each worker")
    .action(async (manager: string, workers: string[]) => {
      await formSwarm(new Simulator(), manager, workers);
      process.stdout.write(`swarm formed: manager ${manager}${workers.length ? `, workers ${workers.join(", ")}` : ""}\n`);
    });
  swarm
    .command("leave <vms...>")
    .description("each VM leaves the swarm, in the order given (workers first)")
    .action(async (vms: string[]) => leaveSwarm(new Simulator(), vms));

  program
    .command("counters")
    .description("packets the fabric dropped (spoofed MAC/IP, undeliverable, no public IP, NSG)")
    .action(async () => {
      process.stdout.write(`${JSON.stringify(await new Simulator().dropCounters(), null, 2)}\n`);
    });

  await program.parseAsync(process.argv);
}

main().catch(fail);
