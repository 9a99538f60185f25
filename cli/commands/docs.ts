import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("docs")
    .description("regenerate the contract tables in docs/ (serial message catalogue, MQTT topic map) from the code")
    .action(async () => {
      const { writeGeneratedDocs } = await import("../../host/contract-docs");
      const changed = writeGeneratedDocs(process.cwd());
      console.log(changed.length ? `updated: ${changed.join(", ")}` : "docs are up to date");
    });
}
