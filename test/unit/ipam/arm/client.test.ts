import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArmClient, ArmError } from "../../../../driver/ipam/arm";
import { FakeClock } from "../helpers";
import { TestTiming } from "./setup";

const tokens = { token: async () => "t", invalidate: () => undefined };

/** A CA and a certificate for 127.0.0.1 signed by it, made with openssl in `dir`. */
function makeCertificates(dir: string): { ca: string; key: string; cert: string } {
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test ARM CA", "-keyout", "ca.key", "-out", "ca.pem"]);
  run(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "arm.key", "-out", "arm.csr"]);
  const ext = join(dir, "ext.cnf");
  writeFileSync(ext, "subjectAltName=IP:127.0.0.1\n");
  run([
    "x509",
    "-req",
    "-in",
    "arm.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    ext,
    "-out",
    "arm.pem",
  ]);
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  return { ca: read("ca.pem"), key: read("arm.key"), cert: read("arm.pem") };
}

describe("ARM client", () => {
  const timing = new TestTiming(new FakeClock());

  describe("over https with an extra CA (--arm-ca-file)", () => {
    let dir: string;
    let server: https.Server;
    let endpoint: string;
    let pem: { ca: string; key: string; cert: string };

    before(async function () {
      this.timeout(20_000);
      dir = mkdtempSync(join(tmpdir(), "azure-vnet-arm-ca-"));
      pem = makeCertificates(dir);
      server = https.createServer({ key: pem.key, cert: pem.cert }, (req, res) => {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ authorization: req.headers.authorization }));
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    after(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    });

    it("trusts ARM's certificate through the extra CA", async () => {
      const client = new ArmClient({ endpoint, extraCa: pem.ca, tokens, timing });
      const result = await client.call("GET", "/subscriptions/s?api-version=1");
      assert.equal(result.status, 200);
      assert.deepEqual(JSON.parse(result.body), { authorization: "Bearer t" });
    });

    it("refuses the same server without that CA", async () => {
      const client = new ArmClient({ endpoint, tokens, timing: new TestTiming(new FakeClock()) });
      await assert.rejects(client.call("GET", "/subscriptions/s?api-version=1"), (err: Error) => {
        assert.ok(err instanceof ArmError);
        assert.match(err.message, /certificate/i);
        return true;
      });
    });
  });

  it("sends its token to ARM's origin only, whatever URL an answer names", async () => {
    const client = new ArmClient({ endpoint: "http://127.0.0.1:9", tokens, timing });
    await assert.rejects(client.call("GET", "http://169.254.0.1/operations/1"), /is not at http:\/\/127\.0\.0\.1:9/);
  });
});
