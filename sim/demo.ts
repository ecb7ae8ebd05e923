#!/usr/bin/env node
/**
 * The README's first command: the simulated Azure network, the plugin on two
 * VMs with its production defaults, and containers using VNet addresses.
 */
import { Simulator } from "./simulator";
import { defaultTopology } from "./topology";
import { PluginProcess } from "./plugin-process";
import { resolve } from "node:path";
import { RunResult, sleep } from "./exec";

const sim = new Simulator();

function show(where: string, cmd: string[], r: RunResult): void {
  process.stdout.write(`\n[${where}] $ ${cmd.join(" ")}\n`);
  const out = (r.stdout + (r.code ? r.stderr : "")).trimEnd();
  if (out) process.stdout.write(`${out.replace(/^/gm, "  ")}\n`);
}

async function onVm(vm: string, cmd: string[]): Promise<RunResult> {
  const r = await sim.exec(vm, cmd[0], cmd.slice(1), { allowFailure: true, timeoutMs: 120_000 });
  show(vm, cmd, r);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} failed on ${vm}`);
  return r;
}

async function onEdge(host: "inet" | "onprem", cmd: string[]): Promise<RunResult> {
  const r = await sim.execEdge(host, cmd[0], cmd.slice(1), { allowFailure: true });
  show(host === "inet" ? "internet host" : "on-premises host", cmd, r);
  return r;
}

async function main(): Promise<void> {
  if (sim.status().up) {
    process.stdout.write("the simulator is already up: tearing it down first\n");
    await sim.down();
  }
  process.stdout.write("bringing up the simulated Azure VNet (vm1, vm2, fabric, internet, on-premises)...\n");
  await sim.up(defaultTopology());
  for (const vm of ["vm1", "vm2"]) {
    const ms = await new PluginProcess(sim, vm).start();
    process.stdout.write(`azure-vnet plugin ready on ${vm} in ${ms} ms (log: ${sim.dir}/plugin-${vm}.log)\n`);
  }
  const web = [
    "sh",
    "-c",
    "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho you are $REMOTE_ADDR | sed s/::ffff://\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www",
  ];
  for (const vm of ["vm1", "vm2"]) {
    await onVm(vm, ["docker", "network", "create", "-d", "azure-vnet", "--ipam-driver", "azure-vnet", "--subnet", "10.0.0.0/24", "vnet"]);
  }
  await onVm("vm1", ["docker", "run", "-d", "--init", "--name", "web", "--network", "vnet", "--ip", "10.0.0.12", "local/busybox", ...web]);
  await onVm("vm2", ["docker", "run", "-d", "--init", "--name", "client", "--network", "vnet", "local/busybox", "sleep", "3600"]);
  await onVm("vm2", ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "client"]);
  await sleep(300);
  await onVm("vm2", ["docker", "exec", "client", "wget", "-qO-", "http://10.0.0.12/cgi-bin/ip"]);
  await onVm("vm2", ["curl", "-s", "http://10.0.0.12/cgi-bin/ip"]);
  await onEdge("onprem", ["curl", "-s", "-m", "3", "http://10.0.0.12/cgi-bin/ip"]);
  // The internet host answers with the source address it sees: vm2's public IP.
  sim.spawnEdge("inet", process.execPath, [resolve(__dirname, "tools", "whoami.js"), "8080"], `${sim.dir}/whoami-inet.log`);
  await sleep(500);
  await onVm("vm2", ["docker", "exec", "client", "wget", "-qO-", "http://198.51.100.10:8080/"]);
  await onVm("vm1", ["docker", "exec", "web", "ip", "route"]);
  await onVm("vm1", ["iptables", "-t", "nat", "-S", "AZURE-VNET-POSTROUTING"]);
  process.stdout.write(
    "\nThe simulator is still up. Try:\n" +
      "  npm run sim -- status\n" +
      "  npm run sim -- exec vm1 -- docker run --rm --network vnet local/busybox ip addr\n" +
      "  npm run sim -- down\n",
  );
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});
