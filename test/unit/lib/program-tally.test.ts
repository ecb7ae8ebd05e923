/** The per-request tally of started programs that the request log line reports. */
import { strict as assert } from "node:assert";
import { runProgram } from "../../../driver/dataplane/exec";
import { countPrograms } from "../../../driver/lib/program-tally";

describe("program tally", () => {
  it("counts the programs started within a call, and only those", async () => {
    const outside = runProgram("true", []);
    const counted = await countPrograms(async () => {
      await runProgram("true", []);
      await Promise.all([runProgram("true", []), runProgram("true", [])]);
      return "done";
    });
    await outside;
    assert.deepEqual(counted, { result: "done", programs: 3 });
    assert.deepEqual(await countPrograms(async () => "none"), { result: "none", programs: 0 });
  });
});
