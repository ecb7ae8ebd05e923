#!/usr/bin/env node
/**
 * azure-vnet-plugin: the Docker network and IPAM plugin daemon (`serve`) and
 * its operator commands.
 */
import { Command } from "commander";
import { ConfigError, registerServeOptions, resolveServeConfig } from "./config";
import { createLogger } from "./log";
import { startPlugin } from "./plugin";
import { errorMessage } from "./errors";
import { registerOperatorCommands } from "./cli/commands";
import { buildInfo, versionText } from "./version";

async function serve(flags: Record<string, unknown>): Promise<void> {
  const config = resolveServeConfig(flags, process.env);
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  logger.info("starting", { ...buildInfo() });
  let plugin;
  try {
    plugin = await startPlugin({ config, logger });
  } catch (err) {
    logger.error("start failed", { error: errorMessage(err) });
    process.exit(1);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("stopping", { signal });
    await plugin.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

function main(): void {
  const program = new Command("azure-vnet-plugin")
    .description("Docker network and IPAM plugin giving containers Azure VNet addresses from the NIC's secondary IP configurations")
    .version(versionText(), "-V, --version", "print the version and the commit it was built from")
    .showHelpAfterError();
  registerServeOptions(
    program.command("serve").description("run the plugin daemon (the socket opens once state is loaded and the kernel reconciled)"),
  ).action((flags: Record<string, unknown>) => serve(flags));
  registerOperatorCommands(program);
  program.parseAsync(process.argv).catch((err) => {
    if (err instanceof ConfigError) process.stderr.write(`azure-vnet-plugin: configuration error:\n  ${err.problems.join("\n  ")}\n`);
    else process.stderr.write(`azure-vnet-plugin: ${errorMessage(err)}\n`);
    process.exit(2);
  });
}

main();
