/**
 * The CLI's output conventions, shared by every command (each command lives in its own file
 * under `src/cli/` and uses these helpers):
 *
 * - **Results on stdout, everything else on stderr.** Logs (JSON lines), progress bars, hints and
 *   errors go to stderr, so `TOKEN=$(calsync token create …)` or `calsync coverage --json | jq`
 *   capture the result and nothing else.
 * - **`--json` everywhere.** A global option (`calsync --json <cmd>` or `calsync <cmd> --json`):
 *   the result is printed as one JSON document on stdout; errors become `{"error": "…"}` on
 *   stdout too, with a non-zero exit status.
 * - **Colour only for people.** No ANSI codes when stdout is not a terminal, when `NO_COLOR` is
 *   set (https://no-color.org), or with `--json`.
 */
import type { Command } from "commander";
import { createRequire } from "node:module";
import type Table from "cli-table3";
import { env } from "../config.ts";

export interface OutputOptions {
  json: boolean;
  colour: boolean;
}

/** Whether ANSI colour may be written to this stream. */
export function colourAllowed(stream: NodeJS.WriteStream = process.stdout): boolean {
  let noColor: string | undefined;
  try {
    noColor = env().NO_COLOR;
  } catch {
    noColor = undefined; // a bad configuration is reported elsewhere; print it without colour
  }
  return Boolean(stream.isTTY) && noColor === undefined;
}

/** The output options of a command: its own `--json` or the program's. */
export function outputOf(cmd: Command): OutputOptions {
  const json = Boolean(cmd.optsWithGlobals<{ json?: boolean }>().json);
  return { json, colour: !json && colourAllowed() };
}

/** Writes a result: JSON (with `--json`) or the human form, on stdout. */
export function emit(out: OutputOptions, result: unknown, human: () => string): void {
  process.stdout.write(out.json ? `${JSON.stringify(result, null, 2)}\n` : `${human()}\n`);
}

/** A note for the person at the terminal (stderr; never part of the result). */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** A table that draws colour only when allowed (cli-table3 colours its head red by default). */
export function table(out: OutputOptions, head: string[]): Table.Table {
  // Required on first use: `calsync serve` loads this module but never draws a table.
  const TableClass = createRequire(import.meta.url)("cli-table3") as typeof Table;
  // The header is painted here, not by cli-table3's own styles: those go through @colors/colors,
  // which turns colour off by itself under CI=true, whatever `out.colour` decided.
  return new TableClass({ head: head.map((h) => paint(out, "bold", h)), style: { head: [], border: [] } });
}

/** Wraps text in an ANSI colour when allowed. */
export function paint(out: OutputOptions, code: "green" | "red" | "yellow" | "dim" | "bold", text: string): string {
  if (!out.colour) return text;
  const codes = { green: [32, 39], red: [31, 39], yellow: [33, 39], dim: [2, 22], bold: [1, 22] } as const;
  const [open, close] = codes[code];
  return `\u001b[${open}m${text}\u001b[${close}m`;
}
