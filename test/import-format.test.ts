import { describe, expect, it } from "vitest";
import { formatOf, readImportFile } from "../src/orphans/import.ts";

describe("import files", () => {
  it("number JSON rows by the line each starts on, in a bare array or under services", () => {
    const wrapped = '{\n  "source": "old system",\n  "services": [\n    {"externalId": "A", "name": "x, [y]"},\n\n    {\n      "externalId": "B",\n      "name": "z"\n    }\n  ]\n}\n';
    expect(readImportFile(wrapped, "json").map((r) => r.line)).toEqual([4, 6]);
    expect(readImportFile('[{"externalId":"A","name":"a"},{"externalId":"B","name":"b"}]', "json").map((r) => r.line)).toEqual([1, 1]);
    expect(readImportFile("[1, null]", "json").map((r) => r.problem)).toEqual(["the row must be an object", "the row must be an object"]);
  });

  it("refuse what cannot be read, naming the problem", () => {
    expect(() => readImportFile("{}", "json")).toThrow(/array of services/);
    expect(() => readImportFile('[{"externalId":"A","name":"a","colour":"red"}]', "json")).toThrow(/unknown key\(s\) "colour"/);
    expect(() => readImportFile("name,slug\nA,a\n", "csv")).toThrow(/externalId and name/);
    expect(() => readImportFile('externalId,name\n"A,a\n', "csv")).toThrow(/CSV cannot be read/);
    expect(() => formatOf("catalogue.xlsx")).toThrow(/\.csv or \.json/);
    expect(formatOf("Katalog.CSV")).toBe("csv");
  });

  it("read CSV with a byte-order mark, quoted newlines and short rows", () => {
    const rows = readImportFile('\uFEFFexternalId,name,description\nA,Massage,"two\nlines"\nB,Short\n', "csv");
    expect(rows.map((r) => [r.line, r.values["externalId"], r.problem])).toEqual([
      [3, "A", undefined],
      [4, "B", "the row does not have the 3 fields of the header"],
    ]);
  });
});
