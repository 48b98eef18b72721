/**
 * `calsync secrets rotate`: re-encrypts every stored Cal.com API key and webhook secret under
 * SECRETS_KEY, reading old values with SECRETS_KEY_PREVIOUS (see domain/stored-secrets.ts for
 * the whole procedure). Exits 1 when a value could be decrypted with neither key (left as is).
 */
import type { Command } from "commander";
import { withRuntime } from "./common.ts";
import { emit, note, outputOf } from "./output.ts";

export function registerSecretsRotate(program: Command): void {
  const secrets = program.command("secrets").description("manage the encryption of stored secrets");
  secrets
    .command("rotate")
    .description("re-encrypt every stored API key and webhook secret under SECRETS_KEY (old values read with SECRETS_KEY_PREVIOUS)")
    .action((_opts: unknown, cmd: Command) =>
      withRuntime(async () => {
        const { rotateSecrets } = await import("../domain/stored-secrets.ts");
        const result = await rotateSecrets();
        emit(outputOf(cmd), result, () =>
          [
            `key id ${result.keyId}: ${result.rewrapped} re-encrypted, ${result.alreadyCurrent} already current`,
            ...result.failed.map((f) => `not decryptable with SECRETS_KEY or SECRETS_KEY_PREVIOUS: ${f.table} ${f.id}`),
          ].join("\n"),
        );
        if (result.failed.length > 0) {
          note("some values were left as they were; keep SECRETS_KEY_PREVIOUS until they are fixed");
          process.exitCode = 1;
        }
      }),
    );
}
