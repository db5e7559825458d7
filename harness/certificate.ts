/**
 * A throw-away certificate for loopback (localhost and 127.0.0.1), made when a relay or
 * a proxy starts and valid for a week: nothing secret is checked in, and clients on
 * loopback are told not to verify it.
 */
export async function throwAwayCertificate(commonName: string): Promise<{ cert: string; key: string }> {
  const { generate } = await import("selfsigned");
  const pem = await generate([{ name: "commonName", value: commonName }], {
    keyType: "ec",
    notAfterDate: new Date(Date.now() + 7 * 86_400_000),
    extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }] }],
  });
  return { cert: pem.cert, key: pem.private };
}
