/**
 * The certificates of the simulated Azure Resource Manager: a CA made at
 * `sim up` and a server certificate for management.azure.com (and ARM's
 * address) signed by it. The VMs trust the CA (sim/vm.ts installs it as an
 * administrator would with update-ca-certificates), so clients keep ARM's
 * production endpoint and certificate checks.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./exec";
import { ARM_HOST, ARM_IP } from "./names";

export interface ArmCertificates {
  /** The CA certificate clients trust (PEM). */
  ca: string;
  /** The server's certificate and key (PEM). */
  cert: string;
  key: string;
}

/** The CA's file name, on the machine and in every VM's /usr/local/share/ca-certificates. */
export const ARM_CA_NAME = "azure-vnet-sim-ca.crt";
/** Where a VM has the CA (vm-init.sh binds the VM's copy over the machine's folder). */
export const ARM_CA_IN_VM = `/usr/local/share/ca-certificates/${ARM_CA_NAME}`;

/** The simulator's CA as every VM has it. */
export const VM_ARM_CA_FILE = `/usr/local/share/ca-certificates/${ARM_CA_NAME}`;

/** `serve` flags for the plugin in a simulated VM with --ipconfig-management arm: its warm pool and cooldown, and the simulator's CA. */
export function armPluginArgs(warm: number, cooldownSeconds: number): string[] {
  return [
    "--ipconfig-management",
    "arm",
    "--warm-ip-target",
    String(warm),
    "--ip-cooldown",
    String(cooldownSeconds),
    "--arm-ca-file",
    VM_ARM_CA_FILE,
  ];
}

export function armCertificatePaths(dir: string): ArmCertificates {
  return { ca: join(dir, ARM_CA_NAME), cert: join(dir, "server.crt"), key: join(dir, "server.key") };
}

const P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Make a new CA and server certificate in dir (replacing any there); valid for 30 days. */
export async function makeArmCertificates(
  dir: string,
  names: { host: string; ip: string } = { host: ARM_HOST, ip: ARM_IP },
): Promise<ArmCertificates> {
  const paths = armCertificatePaths(dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, "ca.key");
  const csr = join(dir, "server.csr");
  const ext = join(dir, "server.ext");
  await run("openssl", [
    "req",
    "-x509",
    ...P256,
    "-keyout",
    caKey,
    "-out",
    paths.ca,
    "-days",
    "30",
    "-subj",
    "/CN=azure-vnet simulator CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await run("openssl", ["req", ...P256, "-keyout", paths.key, "-out", csr, "-subj", `/CN=${names.host}`]);
  writeFileSync(
    ext,
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=DNS:${names.host},IP:${names.ip}`,
      "",
    ].join("\n"),
  );
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    paths.ca,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    paths.cert,
    "-days",
    "30",
    "-extfile",
    ext,
  ]);
  rmSync(csr, { force: true });
  return paths;
}
